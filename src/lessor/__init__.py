"""lessor: allocates and manages expensive resources (VMs, lab machines, CPU cores, NICs)."""

__version__ = "0.1.0"

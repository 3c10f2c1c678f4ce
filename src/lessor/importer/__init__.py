"""Taking over from other allocators without losing what they run (`lessor import-resalloc`)."""

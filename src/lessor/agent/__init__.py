"""`lessor agent`: a host registers itself as a Placement provider with its capacity and traits."""

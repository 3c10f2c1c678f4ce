"""`lessor maint`: resalloc-maint's commands and line formats, straight on the database."""

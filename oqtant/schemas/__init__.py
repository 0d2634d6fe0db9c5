"""Wire schemas and user objects of oqtant."""

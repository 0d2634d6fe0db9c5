"""Test suite of oqtant."""

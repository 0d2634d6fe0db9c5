"""oqtant: design, simulate, queue and run Bose-Einstein-condensate experiments."""

__version__ = "0.1.0"

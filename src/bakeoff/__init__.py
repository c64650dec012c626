"""bakeoff: fine-tuned encoders vs prompted small LLMs, measured under one fair protocol."""

__version__ = "0.1.0"

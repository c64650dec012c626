"""Model backends: loading the models that methods drive.

``causal_lm`` loads a causal LM and its tokenizer from a hub id, a local folder or a GGUF file
(dequantised once, then cached as a normal folder so later loads take seconds).
"""

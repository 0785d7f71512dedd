"""PyTorch reference of the llatte offline model (DESIGN section 4): config, tokenizer, model."""

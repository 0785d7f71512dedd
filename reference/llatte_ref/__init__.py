"""PyTorch reference of the llatte offline model (docs/checkpoint.md): config, tokenizer, model."""

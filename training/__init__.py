"""How the embedded demo model (core/demo/) was made: tokenizer, training and evaluation scripts."""

"""Co-design layer: Hugging Face GPT-2 with its attention swapped onto gain-cell primitives,
the adaptation (initialization) loop and hardware-aware fine-tuning."""

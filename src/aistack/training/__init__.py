"""Fine-tuning: LoRA/QLoRA with peft and trl, tracked in MLflow, exported for llama.cpp.
Imports torch lazily; `served` (what the gateway reads) never does."""

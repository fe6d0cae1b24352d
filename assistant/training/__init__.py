"""Training: the LoRA reader (lora/), its GGUF export, and the trainers of the evidence
selector (selection/) and the support scorers (support/). Serving never imports this room;
what it trains is written where serving reads it (assistant/adapters/, assistant/selection/,
assistant/support/)."""

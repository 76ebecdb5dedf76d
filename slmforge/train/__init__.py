"""Training: `slmforge train` (TRL SFTTrainer configured from the recipe) and `slmforge plan`."""

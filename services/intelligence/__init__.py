"""workflow-intelligence: rule-based insights from the audio, lyrics and prediction responses."""

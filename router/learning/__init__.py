"""The serving half of learning from traffic: feedback, shadow judging, labels, model swaps (docs/learning.md)."""

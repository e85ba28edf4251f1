"""The customer bot: greeting, FAQ answers, hand-off to a person, office hours, ratings."""

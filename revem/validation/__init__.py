"""The validation side of revem: protocols, references, scoring, reports and the pytest plugin."""

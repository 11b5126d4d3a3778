"""View logic for the screens, with no Textual in it: selections, choices, texts, adapters."""

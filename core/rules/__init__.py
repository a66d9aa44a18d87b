"""Pure decisions: what a pass should do, given records, couplings and a mapping. No I/O here (the import
rule test enforces it), so every rule is tested without emulators."""

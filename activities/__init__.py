"""Side effects of the complaint steps (Temporal activities): SQL writes, mail, letters."""

"""The dataset side of revem: labelling (DFT or a teacher potential), diversity, the DFT runner."""

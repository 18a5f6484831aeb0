"""SDK objects to rows: one pure converter per signal, plus the sanitizing and resource helpers they share."""

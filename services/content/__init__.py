"""workflow-content: lyrics analysis (VADER sentiment + lexical features), no network."""

-- Pombo's own database, beside Temporal's (which auto-setup creates).
CREATE DATABASE pombo;

"""Nova (New Mexico's Ed-Fi ODS/API) as a second door into the raw tables (decision 0022)."""

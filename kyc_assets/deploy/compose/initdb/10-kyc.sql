-- The case store's own database beside Dagster's (KYC_DATABASE_URL points at it).
CREATE DATABASE kyc OWNER dagster;

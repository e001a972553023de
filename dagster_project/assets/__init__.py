"""Assets in the order data flows: raw -> dbt (staging, intermediate, marts) -> publish."""

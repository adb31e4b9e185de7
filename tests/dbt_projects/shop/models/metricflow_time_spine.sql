-- The days the semantic layer counts in (dbt's time spine, for the metrics of semantic.yml).
select cast(d as date) as date_day
from (values ('2024-01-01'), ('2024-01-02'), ('2024-01-03'), ('2024-01-04'), ('2024-01-05')) as t(d)

-- dbt's cross-database string, cast and type macros.
select
    event_id,
    {{ dbt.split_part('path', "'/'", 3) }} as section,
    {{ dbt.split_part('path', "'/'", -1) }} as leaf,
    {{ dbt.concat(['kind', "'-'", 'cast(event_id as ' ~ dbt.type_string() ~ ')']) }} as label,
    {{ dbt.position("'/'", 'substr(path, 2)') }} as second_slash,
    {{ dbt.replace('path', "'/'", "'.'") }} as dotted,
    {{ dbt.right('path', 4) }} as tail,
    {{ dbt.length('path') }} as path_length,
    {{ dbt.hash('path') }} as path_hash,
    {{ dbt.safe_cast('amount', dbt.type_numeric()) }} as amount_numeric,
    {{ dbt.cast('event_id', dbt.type_bigint()) }} as id_bigint,
    cast(amount as {{ dbt.type_float() }}) as amount_float,
    cast(event_id as {{ dbt.type_int() }}) as id_int,
    cast(day as {{ dbt.type_timestamp() }}) as day_timestamp,
    {{ dbt.cast_bool_to_text('amount > 5') }} as big,
    {{ dbt.string_literal(dbt.escape_single_quotes("it's")) }} as quoted,
    {{ dbt.date(2024, 2, 29) }} as leap_day
from {{ ref('events') }}

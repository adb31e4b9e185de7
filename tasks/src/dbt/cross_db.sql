{#- dbt's own macros that packages and projects call as `dbt.<name>()` (or bare): the
    cross-database helpers, the column types, and what a test asks of its config. Each public macro dispatches in the `dbt`
    namespace, so a project overrides one for its adapter by defining `<adapter>__<name>`
    (or with a `dispatch:` search order), as with dbt. `default__` forms are PostgreSQL's
    SQL; `sqlite__` forms say the same in SQLite, `lake__` forms in DataFusion's SQL (the
    lake) where it differs from PostgreSQL's; what a backend cannot say is refused at
    compile time, naming the macro. -#}

{%- macro __unsupported(name) -%}
{{ exceptions.raise_compiler_error("dbt." ~ name ~ "() has no form for " ~ target.type ~ " in Updraft") }}
{%- endmacro -%}

{# ---------- what a test or a model asks of the invocation ---------- #}

{%- macro should_store_failures() -%}
{%- set configured = config.get('store_failures') -%}
{{ return(flags.STORE_FAILURES if configured is none else configured) }}
{%- endmacro -%}
{%- macro should_full_refresh() -%}
{%- set configured = config.get('full_refresh') -%}
{{ return(flags.FULL_REFRESH if configured is none else configured) }}
{%- endmacro -%}

{# ---------- column types ---------- #}

{%- macro type_string() -%}{{ return(adapter.dispatch('type_string', 'dbt')()) }}{%- endmacro -%}
{%- macro default__type_string() -%}{{ return(api.Column.translate_type('string')) }}{%- endmacro -%}
{%- macro type_timestamp() -%}{{ return(adapter.dispatch('type_timestamp', 'dbt')()) }}{%- endmacro -%}
{%- macro default__type_timestamp() -%}{{ return(api.Column.translate_type('timestamp')) }}{%- endmacro -%}
{%- macro type_float() -%}{{ return(adapter.dispatch('type_float', 'dbt')()) }}{%- endmacro -%}
{%- macro default__type_float() -%}{{ return(api.Column.translate_type('float')) }}{%- endmacro -%}
{%- macro type_numeric() -%}{{ return(adapter.dispatch('type_numeric', 'dbt')()) }}{%- endmacro -%}
{%- macro default__type_numeric() -%}{{ return(api.Column.numeric_type('numeric', 28, 6)) }}{%- endmacro -%}
{%- macro type_bigint() -%}{{ return(adapter.dispatch('type_bigint', 'dbt')()) }}{%- endmacro -%}
{%- macro default__type_bigint() -%}{{ return(api.Column.translate_type('bigint')) }}{%- endmacro -%}
{%- macro type_int() -%}{{ return(adapter.dispatch('type_int', 'dbt')()) }}{%- endmacro -%}
{%- macro default__type_int() -%}{{ return(api.Column.translate_type('integer')) }}{%- endmacro -%}
{%- macro type_boolean() -%}{{ return(adapter.dispatch('type_boolean', 'dbt')()) }}{%- endmacro -%}
{%- macro default__type_boolean() -%}{{ return(api.Column.translate_type('boolean')) }}{%- endmacro -%}

{# ---------- casts and literals ---------- #}

{%- macro cast(field, type) -%}{{ return(adapter.dispatch('cast', 'dbt')(field, type)) }}{%- endmacro -%}
{%- macro default__cast(field, type) -%}cast({{ field }} as {{ type }}){%- endmacro -%}
{%- macro safe_cast(field, type) -%}{{ return(adapter.dispatch('safe_cast', 'dbt')(field, type)) }}{%- endmacro -%}
{%- macro default__safe_cast(field, type) -%}cast({{ field }} as {{ type }}){%- endmacro -%}
{%- macro lake__safe_cast(field, type) -%}try_cast({{ field }} as {{ type }}){%- endmacro -%}
{%- macro cast_bool_to_text(field) -%}{{ return(adapter.dispatch('cast_bool_to_text', 'dbt')(field)) }}{%- endmacro -%}
{%- macro default__cast_bool_to_text(field) -%}cast({{ field }} as {{ api.Column.translate_type('string') }}){%- endmacro -%}
{%- macro sqlite__cast_bool_to_text(field) -%}case when {{ field }} is null then null when {{ field }} then 'true' else 'false' end{%- endmacro -%}
{%- macro string_literal(value) -%}{{ return(adapter.dispatch('string_literal', 'dbt')(value)) }}{%- endmacro -%}
{%- macro default__string_literal(value) -%}'{{ value }}'{%- endmacro -%}
{%- macro escape_single_quotes(expression) -%}{{ return(adapter.dispatch('escape_single_quotes', 'dbt')(expression)) }}{%- endmacro -%}
{%- macro default__escape_single_quotes(expression) -%}{{ expression | replace("'", "''") }}{%- endmacro -%}
{%- macro date(year, month, day) -%}{{ return(adapter.dispatch('date', 'dbt')(year, month, day)) }}{%- endmacro -%}
{%- macro default__date(year, month, day) -%}to_date('{{ year }}-{{ month }}-{{ day }}', 'YYYY-MM-DD'){%- endmacro -%}
{%- macro sqlite__date(year, month, day) -%}date(printf('%04d-%02d-%02d', {{ year }}, {{ month }}, {{ day }})){%- endmacro -%}
{%- macro lake__date(year, month, day) -%}make_date({{ year }}, {{ month }}, {{ day }}){%- endmacro -%}

{# ---------- strings ---------- #}

{%- macro concat(fields) -%}{{ return(adapter.dispatch('concat', 'dbt')(fields)) }}{%- endmacro -%}
{%- macro default__concat(fields) -%}{{ fields | join(' || ') }}{%- endmacro -%}
{%- macro hash(field) -%}{{ return(adapter.dispatch('hash', 'dbt')(field)) }}{%- endmacro -%}
{%- macro default__hash(field) -%}md5(cast({{ field }} as {{ api.Column.translate_type('string') }})){%- endmacro -%}
{%- macro sqlite__hash(field) -%}{{ dbt.__unsupported('hash') }}{%- endmacro -%}
{%- macro length(expression) -%}{{ return(adapter.dispatch('length', 'dbt')(expression)) }}{%- endmacro -%}
{%- macro default__length(expression) -%}length({{ expression }}){%- endmacro -%}
{%- macro position(substring_text, string_text) -%}{{ return(adapter.dispatch('position', 'dbt')(substring_text, string_text)) }}{%- endmacro -%}
{%- macro default__position(substring_text, string_text) -%}position({{ substring_text }} in {{ string_text }}){%- endmacro -%}
{%- macro sqlite__position(substring_text, string_text) -%}instr({{ string_text }}, {{ substring_text }}){%- endmacro -%}
{%- macro replace(field, old_chars, new_chars) -%}{{ return(adapter.dispatch('replace', 'dbt')(field, old_chars, new_chars)) }}{%- endmacro -%}
{%- macro default__replace(field, old_chars, new_chars) -%}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){%- endmacro -%}
{%- macro right(string_text, length_expression) -%}{{ return(adapter.dispatch('right', 'dbt')(string_text, length_expression)) }}{%- endmacro -%}
{%- macro default__right(string_text, length_expression) -%}right({{ string_text }}, {{ length_expression }}){%- endmacro -%}
{%- macro sqlite__right(string_text, length_expression) -%}case when ({{ length_expression }}) <= 0 then '' else substr({{ string_text }}, -({{ length_expression }})) end{%- endmacro -%}
{%- macro split_part(string_text, delimiter_text, part_number) -%}{{ return(adapter.dispatch('split_part', 'dbt')(string_text, delimiter_text, part_number)) }}{%- endmacro -%}
{%- macro default__split_part(string_text, delimiter_text, part_number) -%}
{#- PostgreSQL counts a negative part from the end only since version 14: counted here from
    the number of delimiters, so every version gives the same part. -#}
{%- if part_number >= 0 -%}
split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- else -%}
split_part({{ string_text }}, {{ delimiter_text }}, (length({{ string_text }}) - length(replace({{ string_text }}, {{ delimiter_text }}, ''))) / length({{ delimiter_text }}) + 2 + ({{ part_number }}))
{%- endif -%}
{%- endmacro -%}
{%- macro sqlite__split_part(string_text, delimiter_text, part_number) -%}{{ dbt.__unsupported('split_part') }}{%- endmacro -%}
{%- macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}{{ return(adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num)) }}{%- endmacro -%}
{%- macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
{%- if limit_num -%}
array_to_string((array_agg({{ measure }} {{ order_by_clause or '' }}))[1:{{ limit_num }}], {{ delimiter_text }})
{%- else -%}
string_agg({{ measure }}, {{ delimiter_text }} {{ order_by_clause or '' }})
{%- endif -%}
{%- endmacro -%}
{%- macro sqlite__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
{%- if limit_num -%}{{ dbt.__unsupported('listagg with limit_num') }}{%- endif -%}
group_concat({{ measure }}, {{ delimiter_text }} {{ order_by_clause or '' }})
{%- endmacro -%}

{# ---------- aggregates and set operators ---------- #}

{%- macro any_value(expression) -%}{{ return(adapter.dispatch('any_value', 'dbt')(expression)) }}{%- endmacro -%}
{#- PostgreSQL before 16 has no any_value: min() gives one of the values, as dbt-postgres does. -#}
{%- macro default__any_value(expression) -%}min({{ expression }}){%- endmacro -%}
{%- macro bool_or(expression) -%}{{ return(adapter.dispatch('bool_or', 'dbt')(expression)) }}{%- endmacro -%}
{%- macro default__bool_or(expression) -%}bool_or({{ expression }}){%- endmacro -%}
{%- macro sqlite__bool_or(expression) -%}max(case when {{ expression }} then 1 else 0 end) = 1{%- endmacro -%}
{%- macro except() -%}{{ return(adapter.dispatch('except', 'dbt')()) }}{%- endmacro -%}
{%- macro default__except() -%}except{%- endmacro -%}
{%- macro intersect() -%}{{ return(adapter.dispatch('intersect', 'dbt')()) }}{%- endmacro -%}
{%- macro default__intersect() -%}intersect{%- endmacro -%}
{%- macro equals(expr1, expr2) -%}{{ return(adapter.dispatch('equals', 'dbt')(expr1, expr2)) }}{%- endmacro -%}
{%- macro default__equals(expr1, expr2) -%}({{ expr1 }} = {{ expr2 }}){%- endmacro -%}

{# ---------- arrays (PostgreSQL) ---------- #}

{%- macro array_construct(inputs=[], data_type=none) -%}{{ return(adapter.dispatch('array_construct', 'dbt')(inputs, data_type or api.Column.translate_type('integer'))) }}{%- endmacro -%}
{%- macro default__array_construct(inputs, data_type) -%}
{%- if inputs | length > 0 -%}array[ {{ inputs | join(' , ') }} ]{%- else -%}array[]::{{ data_type }}[]{%- endif -%}
{%- endmacro -%}
{%- macro array_append(array, new_element) -%}{{ return(adapter.dispatch('array_append', 'dbt')(array, new_element)) }}{%- endmacro -%}
{%- macro default__array_append(array, new_element) -%}array_append({{ array }}, {{ new_element }}){%- endmacro -%}
{%- macro array_concat(array_1, array_2) -%}{{ return(adapter.dispatch('array_concat', 'dbt')(array_1, array_2)) }}{%- endmacro -%}
{%- macro default__array_concat(array_1, array_2) -%}array_cat({{ array_1 }}, {{ array_2 }}){%- endmacro -%}
{%- macro sqlite__array_construct(inputs, data_type) -%}{{ dbt.__unsupported('array_construct') }}{%- endmacro -%}
{%- macro sqlite__array_append(array, new_element) -%}{{ dbt.__unsupported('array_append') }}{%- endmacro -%}
{%- macro sqlite__array_concat(array_1, array_2) -%}{{ dbt.__unsupported('array_concat') }}{%- endmacro -%}

{# ---------- time ---------- #}

{%- macro current_timestamp() -%}{{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}{%- endmacro -%}
{%- macro default__current_timestamp() -%}now(){%- endmacro -%}
{%- macro sqlite__current_timestamp() -%}current_timestamp{%- endmacro -%}
{%- macro current_timestamp_backcompat() -%}{{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}{%- endmacro -%}
{%- macro default__current_timestamp_backcompat() -%}current_timestamp::{{ dbt.type_timestamp() }}{%- endmacro -%}
{%- macro sqlite__current_timestamp_backcompat() -%}current_timestamp{%- endmacro -%}
{%- macro current_timestamp_in_utc_backcompat() -%}{{ return(adapter.dispatch('current_timestamp_in_utc_backcompat', 'dbt')()) }}{%- endmacro -%}
{%- macro default__current_timestamp_in_utc_backcompat() -%}(current_timestamp at time zone 'utc')::{{ dbt.type_timestamp() }}{%- endmacro -%}
{%- macro sqlite__current_timestamp_in_utc_backcompat() -%}current_timestamp{%- endmacro -%}
{%- macro lake__current_timestamp_in_utc_backcompat() -%}cast(current_timestamp as {{ dbt.type_timestamp() }}){%- endmacro -%}

{%- macro dateadd(datepart, interval, from_date_or_timestamp) -%}{{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}{%- endmacro -%}
{%- macro default__dateadd(datepart, interval, from_date_or_timestamp) -%}
{{ from_date_or_timestamp }} + ((interval '1 {{ datepart }}') * ({{ interval }}))
{%- endmacro -%}
{%- macro sqlite__dateadd(datepart, interval, from_date_or_timestamp) -%}
{%- set part = datepart | lower -%}
{%- set unit = {'year': ('years', 1), 'quarter': ('months', 3), 'month': ('months', 1), 'week': ('days', 7), 'day': ('days', 1), 'hour': ('hours', 1), 'minute': ('minutes', 1), 'second': ('seconds', 1)}.get(part) -%}
{%- if unit is none -%}{{ dbt.__unsupported('dateadd(' ~ datepart ~ ')') }}{%- endif -%}
datetime({{ from_date_or_timestamp }}, (({{ interval }}) * {{ unit[1] }}) || ' {{ unit[0] }}')
{%- endmacro -%}
{#- DataFusion cannot multiply an interval: the interval is written out instead. A date
    becomes a timestamp, as PostgreSQL's `date + interval` does. -#}
{%- macro lake__dateadd(datepart, interval, from_date_or_timestamp) -%}
{%- set part = datepart | lower -%}
{%- set unit = {'year': ('year', 1), 'quarter': ('month', 3), 'month': ('month', 1), 'week': ('day', 7), 'day': ('day', 1), 'hour': ('hour', 1), 'minute': ('minute', 1), 'second': ('second', 1), 'millisecond': ('millisecond', 1), 'microsecond': ('microsecond', 1)}.get(part) -%}
{%- if unit is none -%}{{ dbt.__unsupported('dateadd(' ~ datepart ~ ')') }}{%- endif -%}
cast({{ from_date_or_timestamp }} as timestamp) + cast(cast((({{ interval }}) * {{ unit[1] }}) as varchar) || ' {{ unit[0] }}' as interval)
{%- endmacro -%}

{#- `date_part` as PostgreSQL gives it (double precision): DataFusion's is an integer. -#}
{%- macro datepart_value(part, expression) -%}{{ return(adapter.dispatch('datepart_value', 'dbt')(part, expression)) }}{%- endmacro -%}
{%- macro default__datepart_value(part, expression) -%}date_part('{{ part }}', {{ expression }}){%- endmacro -%}
{%- macro lake__datepart_value(part, expression) -%}cast(date_part('{{ part }}', {{ expression }}) as double precision){%- endmacro -%}
{%- macro datediff(first_date, second_date, datepart) -%}{{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}{%- endmacro -%}
{#- Counts the boundaries of `datepart` crossed between the two, as dbt's adapters do. -#}
{%- macro default__datediff(first_date, second_date, datepart) -%}
{%- set part = datepart | lower -%}
{%- set a, b = first_date, second_date -%}
{%- if part == 'year' -%}
({{ dbt.datepart_value('year', '(' ~ b ~ ')::date') }} - {{ dbt.datepart_value('year', '(' ~ a ~ ')::date') }})
{%- elif part == 'quarter' -%}
({{ dbt.datediff(a, b, 'year') }} * 4 + {{ dbt.datepart_value('quarter', '(' ~ b ~ ')::date') }} - {{ dbt.datepart_value('quarter', '(' ~ a ~ ')::date') }})
{%- elif part == 'month' -%}
({{ dbt.datediff(a, b, 'year') }} * 12 + {{ dbt.datepart_value('month', '(' ~ b ~ ')::date') }} - {{ dbt.datepart_value('month', '(' ~ a ~ ')::date') }})
{%- elif part == 'day' -%}
(({{ b }})::date - ({{ a }})::date)
{%- elif part == 'week' -%}
({{ dbt.datediff(a, b, 'day') }} / 7 + case when {{ dbt.datepart_value('dow', '(' ~ a ~ ')::timestamp') }} <= {{ dbt.datepart_value('dow', '(' ~ b ~ ')::timestamp') }} then case when {{ a }} <= {{ b }} then 0 else -1 end else case when {{ a }} <= {{ b }} then 1 else 0 end end)
{%- elif part == 'hour' -%}
({{ dbt.datediff(a, b, 'day') }} * 24 + {{ dbt.datepart_value('hour', '(' ~ b ~ ')::timestamp') }} - {{ dbt.datepart_value('hour', '(' ~ a ~ ')::timestamp') }})
{%- elif part == 'minute' -%}
({{ dbt.datediff(a, b, 'hour') }} * 60 + {{ dbt.datepart_value('minute', '(' ~ b ~ ')::timestamp') }} - {{ dbt.datepart_value('minute', '(' ~ a ~ ')::timestamp') }})
{%- elif part == 'second' -%}
({{ dbt.datediff(a, b, 'minute') }} * 60 + floor({{ dbt.datepart_value('second', '(' ~ b ~ ')::timestamp') }}) - floor({{ dbt.datepart_value('second', '(' ~ a ~ ')::timestamp') }}))
{%- elif part in ('millisecond', 'microsecond') -%}
{%- set scale = 60000 if part == 'millisecond' else 60000000 -%}
({{ dbt.datediff(a, b, 'minute') }} * {{ scale }} + floor({{ dbt.datepart_value(part, '(' ~ b ~ ')::timestamp') }}) - floor({{ dbt.datepart_value(part, '(' ~ a ~ ')::timestamp') }}))
{%- else -%}
{{ exceptions.raise_compiler_error("dbt.datediff: unsupported datepart " ~ datepart) }}
{%- endif -%}
{%- endmacro -%}
{%- macro sqlite__datediff(first_date, second_date, datepart) -%}
{%- set part = datepart | lower -%}
{%- set a, b = first_date, second_date -%}
{%- if part == 'year' -%}
(cast(strftime('%Y', {{ b }}) as integer) - cast(strftime('%Y', {{ a }}) as integer))
{%- elif part == 'quarter' -%}
({{ dbt.datediff(a, b, 'year') }} * 4 + (cast(strftime('%m', {{ b }}) as integer) + 2) / 3 - (cast(strftime('%m', {{ a }}) as integer) + 2) / 3)
{%- elif part == 'month' -%}
({{ dbt.datediff(a, b, 'year') }} * 12 + cast(strftime('%m', {{ b }}) as integer) - cast(strftime('%m', {{ a }}) as integer))
{%- elif part == 'day' -%}
cast(julianday(date({{ b }})) - julianday(date({{ a }})) as integer)
{%- elif part == 'week' -%}
cast((julianday(date({{ b }}, '-6 days', 'weekday 1')) - julianday(date({{ a }}, '-6 days', 'weekday 1'))) / 7 as integer)
{%- elif part == 'hour' -%}
cast(round((julianday(strftime('%Y-%m-%d %H:00:00', {{ b }})) - julianday(strftime('%Y-%m-%d %H:00:00', {{ a }}))) * 24) as integer)
{%- elif part == 'minute' -%}
cast(round((julianday(strftime('%Y-%m-%d %H:%M:00', {{ b }})) - julianday(strftime('%Y-%m-%d %H:%M:00', {{ a }}))) * 1440) as integer)
{%- elif part == 'second' -%}
cast(round((julianday(strftime('%Y-%m-%d %H:%M:%S', {{ b }})) - julianday(strftime('%Y-%m-%d %H:%M:%S', {{ a }}))) * 86400) as integer)
{%- else -%}
{{ dbt.__unsupported('datediff(' ~ datepart ~ ')') }}
{%- endif -%}
{%- endmacro -%}

{%- macro date_trunc(datepart, date) -%}{{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}{%- endmacro -%}
{%- macro default__date_trunc(datepart, date) -%}date_trunc('{{ datepart }}', {{ date }}){%- endmacro -%}
{%- macro sqlite__date_trunc(datepart, date) -%}
{%- set part = datepart | lower -%}
{%- if part == 'year' -%}datetime({{ date }}, 'start of year')
{%- elif part == 'quarter' -%}datetime({{ date }}, 'start of month', '-' || ((cast(strftime('%m', {{ date }}) as integer) - 1) % 3) || ' months')
{%- elif part == 'month' -%}datetime({{ date }}, 'start of month')
{%- elif part == 'week' -%}datetime({{ date }}, 'start of day', '-6 days', 'weekday 1')
{%- elif part == 'day' -%}datetime({{ date }}, 'start of day')
{%- elif part == 'hour' -%}strftime('%Y-%m-%d %H:00:00', {{ date }})
{%- elif part == 'minute' -%}strftime('%Y-%m-%d %H:%M:00', {{ date }})
{%- elif part == 'second' -%}strftime('%Y-%m-%d %H:%M:%S', {{ date }})
{%- else -%}{{ dbt.__unsupported('date_trunc(' ~ datepart ~ ')') }}
{%- endif -%}
{%- endmacro -%}

{%- macro last_day(date, datepart) -%}{{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}{%- endmacro -%}
{#- The day before the start of the next period. -#}
{%- macro default_last_day(date, datepart) -%}
cast({{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }} as date)
{%- endmacro -%}
{%- macro default__last_day(date, datepart) -%}
{%- if datepart | lower == 'quarter' -%}
cast({{ dbt.dateadd('day', '-1', dbt.dateadd('month', '3', dbt.date_trunc(datepart, date))) }} as date)
{%- else -%}
{{ dbt.default_last_day(date, datepart) }}
{%- endif -%}
{%- endmacro -%}
{%- macro sqlite__last_day(date, datepart) -%}
date({{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }})
{%- endmacro -%}

{# ---------- series ---------- #}

{%- macro get_powers_of_two(upper_bound) -%}{{ return(adapter.dispatch('get_powers_of_two', 'dbt')(upper_bound)) }}{%- endmacro -%}
{#- The smallest n with 2^n >= upper_bound. -#}
{%- macro default__get_powers_of_two(upper_bound) -%}
{%- if upper_bound <= 0 -%}{{ exceptions.raise_compiler_error("upper bound must be positive") }}{%- endif -%}
{%- for n in range(1, 100) -%}
{%- if upper_bound <= 2 ** n -%}{{ return(n) }}{%- endif -%}
{%- endfor -%}
{%- endmacro -%}
{%- macro generate_series(upper_bound) -%}{{ return(adapter.dispatch('generate_series', 'dbt')(upper_bound)) }}{%- endmacro -%}
{#- The numbers 1..upper_bound, from the cross join of n two-row tables. -#}
{%- macro default__generate_series(upper_bound) -%}
{%- set n = dbt.get_powers_of_two(upper_bound) -%}
with p as (select 0 as generated_number union all select 1),
unioned as (
    select {% for i in range(n) %}p{{ i }}.generated_number * {{ 2 ** i }} + {% endfor %}1 as generated_number
    from {% for i in range(n) %}p as p{{ i }}{% if not loop.last %} cross join {% endif %}{% endfor %}
)
select * from unioned where generated_number <= {{ upper_bound }} order by generated_number
{%- endmacro -%}
{%- macro get_intervals_between(start_date, end_date, datepart) -%}{{ return(adapter.dispatch('get_intervals_between', 'dbt')(start_date, end_date, datepart)) }}{%- endmacro -%}
{%- macro default__get_intervals_between(start_date, end_date, datepart) -%}
{%- set found = run_query('select ' ~ dbt.datediff(start_date, end_date, datepart)) -%}
{%- if found and found.rows | length > 0 -%}{{ return(found.rows[0][0]) }}{%- else -%}{{ return(1) }}{%- endif -%}
{%- endmacro -%}
{%- macro date_spine(datepart, start_date, end_date) -%}{{ return(adapter.dispatch('date_spine', 'dbt')(datepart, start_date, end_date)) }}{%- endmacro -%}
{%- macro default__date_spine(datepart, start_date, end_date) -%}
with rawdata as (
    {{ dbt.generate_series(dbt.get_intervals_between(start_date, end_date, datepart)) }}
),
all_periods as (
    select ({{ dbt.dateadd(datepart, 'row_number() over (order by 1) - 1', start_date) }}) as date_{{ datepart }}
    from rawdata
),
filtered as (
    select * from all_periods where date_{{ datepart }} <= {{ end_date }}
)
select * from filtered
{%- endmacro -%}

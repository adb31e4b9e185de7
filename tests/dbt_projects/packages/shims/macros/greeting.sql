{% macro postgres__greeting() %}'hello from shims'{% endmacro %}

{# Not reached: the project's default__unit_label comes first in the search order. #}
{% macro postgres__unit_label() %}'shim units'{% endmacro %}
{#- The lake's form: dispatch tries `lake__` first there. -#}
{% macro lake__greeting() %}'hello from shims'{% endmacro %}

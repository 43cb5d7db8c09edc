{% macro hash_pii(expression) -%}
    {{ return(adapter.dispatch('hash_pii', 'tally')(expression, pii_hash_key())) }}
{%- endmacro %}

{% macro default__hash_pii(expression, key) -%}
    {#- Engines without SHA-256 in SQL: a nested keyed MD5 (dbt.hash), weaker than HMAC. -#}
    {%- set key_literal = "'" ~ key | replace("'", "''") ~ "'" -%}
    {{ dbt.hash(dbt.concat([key_literal, dbt.hash(dbt.concat([key_literal, expression]))])) }}
{%- endmacro %}

{% macro postgres__hash_pii(expression, key) -%}
    {#- HMAC-SHA256 (RFC 2104) from the built-in sha256(bytea), without pgcrypto: the key's inner
        and outer pads are constant, computed once per query (uncorrelated subqueries), so each
        row costs two sha256 calls. Lowercase hex, as Python's hmac.new(key, msg, sha256). -#}
    {%- set key_hex = key.encode('utf-8').hex() -%}
    case when {{ expression }} is not null then
        encode(sha256(
            {{ hmac_sha256_pad(key_hex, 92) }}
            || sha256({{ hmac_sha256_pad(key_hex, 54) }} || convert_to({{ expression }}, 'UTF8'))
        ), 'hex')
    end
{%- endmacro %}

{% macro hmac_sha256_pad(key_hex, pad_byte) -%}
    (
        select decode(string_agg(
            -- a xor b = (a | b) - (a & b), spelt without `#`, which sqlfluff cannot lex
            lpad(to_hex(
                (get_byte(padded.key_bytes, byte_index) | {{ pad_byte }})
                - (get_byte(padded.key_bytes, byte_index) & {{ pad_byte }})
            ), 2, '0'),
            '' order by byte_index
        ), 'hex')
        from (
            select
                case
                    when length(raw_key.key_bytes) > 64 then sha256(raw_key.key_bytes)
                    else raw_key.key_bytes
                end || decode(repeat('00', 64), 'hex') as key_bytes
            from (select decode('{{ key_hex }}', 'hex') as key_bytes) as raw_key
        ) as padded
        cross join generate_series(0, 63) as byte_index
    )
{%- endmacro %}

# ruff: noqa: E501  (tables of example strings)
"""gitleaks' rule-file examples, files b... to co... (see gitleaks_go.py)."""

from __future__ import annotations

from gitleaks_go import Example, an, ane, ans, g1, gs, hx, ns, num

_CF_GLOBAL = [
    'cloudflare_global_api_key = "d3d1443e0adc9c24564c6c5676d679d47e2ca"',
    "CLOUDFLARE_GLOBAL_API_KEY: 674538c7ecac77d064958a04a83d9e9db068c",
    'cloudflare: "0574b9f43978174cc2cb9a1068681225433c4"',
]
_CF_API = [
    'cloudflare_api_key = "Bu0rrK-lerk6y0Suqo1qSqlDDajOk61wZchCkje4"',
    "CLOUDFLARE_API_KEY: 5oK0U90ME14yU6CVxV90crvfqVlNH2wRKBwcLWDc",
    'cloudflare: "oj9Yoyq0zmOyWmPPob1aoY5YSNNuJ0fbZSOURBlX"',
]
_CF_CA = [
    "CLOUDFLARE_ORIGIN_CA: v1.0-aaa334dc886f30631ba0a610-0d98ef66290d7e50aac7c27b5986c99e6f3f1084c881d8ac0eae5de1d1aa0644076ff57022069b3237d19afe60ad045f207ef2b16387ee37b749441b2ae2e9ebe5b4606e846475d4a5",
    "CLOUDFLARE_ORIGIN_CA: v1.0-15d20c7fccb4234ac5cdd756-d5c2630d1b606535cf9320ae7456b090e0896cec64169a92fae4e931ab0f72f111b2e4ffed5b2bb40f6fba6b2214df23b188a23693d59ce3fb0d28f7e89a2206d98271b002dac695ed",
]

EXAMPLES: list[Example] = [
    ("beamer.go", "beamer-api-token", gs("beamer", "b_" + ns(ane("44"))), 1),
    ("beamer.go", "beamer-api-token", "│   ├── R21A-A-V010SP13RC181024R16900-CN-B_250K-Release-OTA-97B6C6C59241976086FABDC41472150C.bfu", 0),
    ("bitbucket.go", "bitbucket-client-id", g1("bitbucket", ns(an("32"))), 1),
    ("bitbucket.go", "bitbucket-client-secret", g1("bitbucket", ns(an("64"))), 1),
    ("bittrex.go", "bittrex-access-key", g1("bittrex", ns(an("32"))), 1),
    ("bittrex.go", "bittrex-secret-key", g1("bittrex", ns(an("32"))), 1),
    ("clickhouse.go", "clickhouse-cloud-api-secret-key", gs("ClickHouse", "4b1dbRdW3rOcB7xLthrM4BTBGK1qPLkHigpN1bXD6z"), 1),
    ("clickhouse.go", "clickhouse-cloud-api-secret-key", gs("ClickHouse", "4b1d" + ns("[A-Za-z0-9]{38}")), 1),
    ("clickhouse.go", "clickhouse-cloud-api-secret-key", "key = 4b1dXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", 0),
    ("clickhouse.go", "clickhouse-cloud-api-secret-key", "key = adf4b1dbRdW3rOcB7xLthrM4BTBGK1qPLkHigpN1bXD6z", 0),
    ("clojars.go", "clojars-api-token", gs("clojars", "CLOJARS_" + ns(an("60"))), 1),
    ("cloudflare.go", "cloudflare-global-api-key", gs("cloudflare", ns(hx("37"))), 1),
    ("cloudflare.go", "cloudflare-global-api-key", _CF_GLOBAL, 1),
    ("cloudflare.go", "cloudflare-global-api-key", _CF_API + _CF_CA, 0),
    ("cloudflare.go", "cloudflare-api-key", gs("cloudflare", ns(ans("40"))), 1),
    ("cloudflare.go", "cloudflare-api-key", _CF_API, 1),
    ("cloudflare.go", "cloudflare-origin-ca-key", gs("cloudflare", "v1.0-aaa334dc886f30631ba0a610-0d98ef66290d7e50aac7c27b5986c99e6f3f1084c881d8ac0eae5de1d1aa0644076ff57022069b3237d19afe60ad045f207ef2b16387ee37b749441b2ae2e9ebe5b4606e846475d4a5"), 1),
    ("cloudflare.go", "cloudflare-origin-ca-key", _CF_CA, 1),
    ("codecov.go", "codecov-access-token", gs("codecov", ns(an("32"))), 1),
    ("cohere.go", "cohere-api-token", g1("cohere", ns("[a-zA-Z0-9]{40}")), 1),
    ("cohere.go", "cohere-api-token", "export CO_API_KEY=" + ns("[a-zA-Z0-9]{40}"), 1),
    ("cohere.go", "cohere-api-token", "CO_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0),
    ("coinbase.go", "coinbase-access-token", g1("coinbase", ns(ans("64"))), 1),
    ("confluent.go", "confluent-secret-key", g1("confluent", ns(an("64"))), 1),
    ("confluent.go", "confluent-access-token", g1("confluent", ns(an("16"))), 1),
    ("contentful.go", "contentful-delivery-api-token", g1("contentful", ns(an("43"))), 1),
    ("databricks.go", "databricks-api-token", g1("databricks", "dapi" + ns(hx("32"))), 1),
    ("datadog.go", "datadog-access-token", g1("datadog", ns(an("40"))), 1),
    ("definednetworking.go", "defined-networking-api-token", g1("dnkey", "dnkey-" + ns(ane("26")) + "-" + ns(ane("52"))), 1),
    ("digitalocean.go", "digitalocean-pat", gs("do", "dop_v1_" + ns(hx("64"))), 1),
    ("digitalocean.go", "digitalocean-access-token", gs("do", "doo_v1_" + ns(hx("64"))), 1),
    ("digitalocean.go", "digitalocean-refresh-token", gs("do", "dor_v1_" + ns(hx("64"))), 1),
    ("discord.go", "discord-api-token", gs("discord", ns(hx("64"))), 1),
    ("discord.go", "discord-client-id", gs("discord", ns(num("18"))), 1),
    ("discord.go", "discord-client-id", "discord=000000000000000000", 0),
    ("discord.go", "discord-client-secret", gs("discord", ns(num("32"))), 1),
    ("discord.go", "discord-client-secret", "discord=00000000000000000000000000000000", 0),
]  # fmt: skip

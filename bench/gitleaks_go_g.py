# ruff: noqa: E501  (tables of example strings)
"""gitleaks' rule-file examples (see gitleaks_go.py)."""

from __future__ import annotations

from gitleaks_go import HEX_UUID, Example, an, ane, ans, g1, gs, hx, ns, num

_TG = ns(num("8") + ":A" + ans("34"))

EXAMPLES: list[Example] = [
    ("snyk.go", "snyk-api-token", gs("snyk", "12345678-ABCD-ABCD-ABCD-1234567890AB"), 1),
    ("snyk.go", "snyk-api-token", [
        'const SNYK_TOKEN = "12345678-ABCD-ABCD-ABCD-1234567890AB"', 'const SNYK_KEY = "12345678-ABCD-ABCD-ABCD-1234567890AB"',
        'SNYK_TOKEN := "12345678-ABCD-ABCD-ABCD-1234567890AB"', 'SNYK_TOKEN ::= "12345678-ABCD-ABCD-ABCD-1234567890AB"',
        'SNYK_TOKEN :::= "12345678-ABCD-ABCD-ABCD-1234567890AB"', 'SNYK_TOKEN ?= "12345678-ABCD-ABCD-ABCD-1234567890AB"',
        'SNYK_API_KEY ?= "12345678-ABCD-ABCD-ABCD-1234567890AB"', 'SNYK_API_TOKEN = "12345678-ABCD-ABCD-ABCD-1234567890AB"',
        'SNYK_OAUTH_TOKEN = "12345678-ABCD-ABCD-ABCD-1234567890AB"'], 1),
    ("sonar.go", "sonar-api-token", gs("sonar", "12345678ABCDEFH1234567890ABCDEFH12345678"), 1),
    ("sonar.go", "sonar-api-token", [
        'const SONAR_LOGIN = "12345678ABCDEFH1234567890ABCDEFH12345678"', 'SONAR_LOGIN := "12345678ABCDEFH1234567890ABCDEFH12345678"',
        'SONAR.LOGIN ::= "12345678ABCDEFH1234567890ABCDEFH12345678"', 'SONAR.LOGIN :::= "12345678ABCDEFH1234567890ABCDEFH12345678"',
        'SONAR.LOGIN ?= "12345678ABCDEFH1234567890ABCDEFH12345678"', 'const SONAR_TOKEN = "squ_12345678ABCDEFH1234567890ABCDEFH12345678"',
        'SONAR_LOGIN := "sqp_12345678ABCDEFH1234567890ABCDEFH12345678"', 'SONAR.TOKEN = "sqa_12345678ABCDEFH1234567890ABCDEFH12345678"'], 1),
    ("square.go", "square-access-token", gs("square", ns("(?:EAAA|sq0atp-)[A-Za-z0-9_-]{22,60}")), 1),
    ("square.go", "square-access-token", "ARG token=sq0atp-812erere3wewew45678901", 1),
    ("square.go", "square-access-token", "ARG token=EAAAlsBxkkVgvmr7FasTFbM6VUGZ31EJ4jZKTJZySgElBDJ_wyafHuBFquFexY7E", 1),
    ("square.go", "square-access-token", "aws-cli@sha256:eaaa7b11777babe28e6133a8b19ff71cea687e0d7f05158dee95a71f76ce3d00", 0),
    ("square.go", "square-secret", gs("square", ns("sq0csp-[0-9A-Za-z_-]{43}")), 1),
    ("square.go", "square-secret", 'value: "sq0csp-0p9h7g6f4s3s3s3-4a3ardgwa6ADRDJDDKUFYDYDYDY"', 1),
    ("squarespace.go", "squarespace-access-token", g1("squarespace", ns(HEX_UUID)), 1),
    ("stripe.go", "stripe-access-token", 'stripeToken := "sk_test_' + ns(an("30")) + '"', 1),
    ("sumologic.go", "sumologic-access-id", [
        'sumologic.accessId = "su9OL59biWiJu7"', 'sumologic_access_id = "sug5XpdpaoxtOH"',
        'export SUMOLOGIC_ACCESSID="suDbJw97o9WVo0"', 'SUMO_ACCESS_ID = "suGyI5imvADdvU"',
        g1("sumo", "su" + ns(an("12")))], 1),
    ("sumologic.go", "sumologic-access-id", [
        "- (NSNumber *)sumOfProperty:(NSString *)property;", "- (NSInteger)sumOfValuesInRange:(NSRange)range;",
        "+ (unsigned char)byteChecksumOfData:(id)arg1;", "sumOfExposures = sumOfExposures;",
        ".si-sumologic.si--color::before { color: #000099; }", "/// Based on the SumoLogic keyword syntax:",
        'sumologic_access_id         = ""', "SUMOLOGIC_ACCESSID: ${SUMOLOGIC_ACCESSID}",
        "export SUMOLOGIC_ACCESSID=XXXXXXXXXXXXXX"], 0),
    ("sumologic.go", "sumologic-access-token", [
        'export SUMOLOGIC_ACCESSKEY="3HSa1hQfz6BYzlxf7Yb1WKG3Hyovm56LMFChV2y9LgkRipsXCujcLb5ej3oQUJlx"',
        "SUMO_ACCESS_KEY: gxq3rJQkS6qovOg9UY2Q70iH1jFZx0WBrrsiAYv4XHodogAwTKyLzvFK4neRN8Dk",
        "SUMOLOGIC_ACCESSKEY: 9RITWb3I3kAnSyUolcVJq4gwM17JRnQK8ugRaixFfxkdSl8ys17ZtEL3LotESKB7",
        'sumo_access_key = "3Kof2VffNQ0QgYIhXUPJosVlCaQKm2hfpWE6F1fT9YGY74blQBIPsrkCcf1TwKE5"',
        g1("sumo", ns(an("64")))], 1),
    ("sumologic.go", "sumologic-access-token", [
        "#   SUMO_ACCESS_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "-e SUMO_ACCESS_KEY=`etcdctl get /sumologic_secret`", "SUMO_ACCESS_KEY={SumoAccessKey}",
        "SUMO_ACCESS_KEY=${SUMO_ACCESS_KEY:=$2}", 'sumo_access_key   = "<SUMOLOGIC ACCESS KEY>"',
        "SUMO_ACCESS_KEY: AbCeFG123"], 0),
    ("telegram.go", "telegram-bot-api-token", [
        g1("telegram", _TG), 'const bot = new Telegraf("' + _TG + '")', "TELEGRAM_API_TOKEN = " + _TG,
        "telegram bot: " + _TG, g1("telegram", ns(num("5") + ":A" + ans("34"))),
        g1("telegram", ns(num("16") + ":A" + ans("34")))], 1),
    ("telegram.go", "telegram-bot-api-token", [
        g1("telegram", ns(num("4") + ":A" + ans("34"))), g1("telegram", ns(num("17") + ":A" + ans("34"))),
        g1("telegram", '<xsd:element name="AgencyIdentificationCode" type="clm' + ns(num("5")) + ':AgencyIdentificationCodeContentType"/>'),
        g1("telegram", 'token:"clm' + ns(num("5")) + ':AgencyIdentificationCodeContentType"'),
        g1("telegram", '<xsd:element name="AgencyIdentificationCode" type="clm' + ns(num("8")) + ':AgencyIdentificationCodeContentType"/>'),
        g1("telegram", 'telegram_api_token = "' + ns(num("8")) + ":Ahello" + ns(ans("34")) + '"'),
        g1("telegram", 'telegram_api_token = "' + ns(num("8")) + ":A-some-other-thing-" + ns(ans("34")) + '"'),
        g1("telegram", 'telegram_api_token = "' + ns(num("8")) + ":A_" + ns(ans("34")) + '"'),
        g1("telegram", 'telegram_api_token = "' + ns(num("8")) + ":A" + ns(ans("34")) + 'hello"'),
        g1("telegram", 'telegram_api_token = "' + ns(num("8")) + ":A" + ns(ans("34")) + '-some-other-thing"'),
        g1("telegram", 'telegram_api_token = "' + ns(num("8")) + ":A_" + ns(ans("34")) + '_"')], 0),
    ("travisci.go", "travisci-access-token", gs("travis", ns(an("22"))), 1),
    ("twilio.go", "twilio-api-key", gs("twilio", "SK" + ns(hx("32"))), 1),
    ("twitch.go", "twitch-api-token", g1("twitch", ns(an("30"))), 1),
    ("twitter.go", "twitter", 'twitterToken := "' + ns(hx("36")) + 'aaaa"', 1),
    ("twitter.go", "twitter", "twitterToken := `" + ns(hx("36")) + "aaaa`", 1),
    ("typeform.go", "typeform-api-token", g1("typeformAPIToken", "tfp_" + ns(ane("59"))), 1),
    ("yandex.go", "yandex-aws-access-token", g1("yandex", ns("YC[a-zA-Z0-9_\\-]{38}")), 1),
    ("yandex.go", "yandex-api-key", g1("yandex", ns("AQVN[A-Za-z0-9_\\-]{35,38}")), 1),
    ("yandex.go", "yandex-access-token", g1("yandex", ns("t1\\.[A-Z0-9a-z_-]{20,60}[=]{0,2}\\.[A-Z0-9a-z_-]{86}[=]{0,2}")), 1),
    ("zendesk.go", "zendesk-secret-key", g1("zendesk", ns(an("40"))), 1),
    ("teams.go", "microsoft-teams-webhook", "https://mycompany.webhook.office.com/webhookb2/" + ns("[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}@[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}"), 1),
    ("twitter.go", "twitter-api-key", gs("twitter", ns(an("25"))), 1),
    ("twitter.go", "twitter-api-secret", gs("twitter", ns(an("50"))), 1),
    ("twitter.go", "twitter-bearer-token", gs("twitter", ns("A{22}[a-zA-Z0-9%]{80,100}")), 1),
    ("twitter.go", "twitter-access-token", gs("twitter", ns("[0-9]{15,25}-[a-zA-Z0-9]{20,40}")), 1),
    ("twitter.go", "twitter-access-secret", gs("twitter", ns(an("45"))), 1),
    ("plaid.go", "plaid-client-id", gs("plaid", ns("[a-zA-Z0-9]{24}")), 1),
    ("plaid.go", "plaid-secret-key", gs("plaid", ns(an("30"))), 1),
    ("plaid.go", "plaid-api-token", gs("plaid", ns("access-(?:sandbox|development|production)-" + HEX_UUID)), 1),
    ("meraki.go", "cisco-meraki-api-key", gs("meraki", ns(hx("40"))), 1),
    ("meraki.go", "cisco-meraki-api-key", "│e9e0f062f587b_423bb6cc6328eb786d75b45783e.bfu", 0),
    ("meraki.go", "cisco-meraki-api-key", "a1cdda32f587g423bb6cc6328Eb786d75b45783e", 0),
    ("aws.go", "aws-access-token", gs("AWS", "AKIALALEMEL33243OLIB"), 1),
    ("aws.go", "aws-access-token", gs("AWS", "AKIA" + ns("[A-Z2-7]{16}")), 1),
    ("aws.go", "aws-access-token", gs("AWS", "ASIA" + ns("[A-Z2-7]{16}")), 1),
    ("aws.go", "aws-access-token", gs("AWS", "ABIA" + ns("[A-Z2-7]{16}")), 1),
    ("aws.go", "aws-access-token", gs("AWS", "ACCA" + ns("[A-Z2-7]{16}")), 1),
]  # fmt: skip

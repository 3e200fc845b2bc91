# SPDX-License-Identifier: Apache-2.0
# signing_cnf FILE PROVIDER_MODULE : the OpenSSL configuration of
# docs/signing.md for pkcs11-provider, verbatim: it names no token, module
# or PIN itself; OpenSSL expands CSAGENT_MODULE and CSAGENT_PIN_FILE,
# which csagent exec sets for each run (sourced, bash).
signing_cnf() {
    cat >"$1" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
pkcs11 = pkcs11_sect
[default_sect]
activate = 1
[pkcs11_sect]
module = $2
pkcs11-module-path = \$ENV::CSAGENT_MODULE
pkcs11-module-token-pin = file:\$ENV::CSAGENT_PIN_FILE
pkcs11-module-quirks = no-deinit no-operation-state
activate = 1
CNF
}

/** The smallest valid controller config, for tests that add sections to it. */
export const CONTROLLER_INI = `
[DEFAULT]
role = controller
[nova]
auth_url = http://198.18.1.11:5000/v3
username = admin
password = very-secret-password
[notifications]
smtp_host = 127.0.0.1
smtp_tls = none
to = ops@example.com
[remediation]
hmac_key = 0123456789abcdef0123456789abcdef
`;

"""Third-party SCA test vector (reference §5.2).

From jayaddison/pywisetransfer (PYW): `test/test_sca.py` signs the one-time token below with its
`test/test-sca.pem` (`echo -n <ott> | openssl sha256 -sign test-sca.pem | base64 -w 0`) and
expects this signature. Only the public half of that key is kept here: PYW publishes it as
`DEFAULT_PUBLIC_KEY`, "to give the whole world access to a test account on the Wise Sandbox API".
Checking PYW's signature against it proves mockwise verifies what a real client sends, with a key
and signature mockwise did not make.
"""

ONE_TIME_TOKEN = "7fa8c832-b8b5-4757-9c24-e952119999f2"

SIGNATURE = (
    "H4AmLxMBsJ08oF80anN/Co4MbfhP6BQP0f43xVlmUP2a3W2n63izw3QNHciWxiTe3udX8RD7hE6p+p5s"
    "GRgIRbBgu1l53o021+i2GY0HhXiVc78HPjIpLepJbI4DqetdWXho6RAUppRj57knGn1iCrh/w+4VMWA8"
    "MdmNIzWV0gTE7nI+RzW2skhEPSshkZoz/oWX6blOzrMSIl5ujz7ji7uTnTJDXEtGst6XhB52L77NWo38"
    "6QrFWwbvQB/X9n20ZVaU3jP194qKNtytqneAs37hdhWak9+Ul5/G2gDLKUUUhYO0dFXkljwSJ4ArZtKI"
    "PXY0KPupPCkCimS7fCnWmQ=="
)

PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyMyEEbVf3dyP57TdjXOg
2HNpjq74qEoWTewFtQMeaUYuO41jSq3SC69g7Mf6OHMC0wqNY2Eso0q1bXHf6Eym
yR5qFJjzVHFcWmjivJ9jDd+8NzJm+ZsEe18HycCepNvcjSQefgqmMl/A6r83o5Q+
R4rCqemAQLZNTmj+WaZK4m+0tFwTnT6K1Hp2t3pkcpUUG3yJNOB5w3FUY8LQtv8I
m+WePMqkYYT6sn7uGpikvC8SEje0R8IGc2SItvhkRZ1CULGm8weEY68aGjkRb7LE
OJ+iEyzI7IuA2SA64+xhGfg+EEBp569zeYNuuwm9Uqx9O5hExuqgi7ENyHbVOJ4K
VwIDAQAB
-----END PUBLIC KEY-----
"""

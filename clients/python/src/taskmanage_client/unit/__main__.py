"""`python -m taskmanage_client.unit --id worker-001 --type document_processing ...`"""

import sys

from .cli import main

sys.exit(main())

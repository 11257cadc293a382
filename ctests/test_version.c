/* The header's version macros match the library's run-time answers. */
#include <string.h>
#include "helpers.h"

int main(void) {
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", LT_VERSION_MAJOR, LT_VERSION_MINOR, LT_VERSION_PATCH);
    CHECK(strcmp(lt_version(), expect) == 0);
    CHECK_EQ(lt_version_number(), LT_VERSION_NUMBER);
    CHECK_EQ(lt_abi_version(), LT_ABI_VERSION);
    CHECK(strstr(lt_error_str(LT_ERROR_INVALID_TORRENT), "invalid torrent") != NULL);
    CHECK(strcmp(lt_error_str(12345), "unknown error code") == 0);
    lt_free(NULL);
    return 0;
}

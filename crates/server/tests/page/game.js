// The dots game's page script, embedded by the page tests.
import * as sdk from '/sdk/index.js';

window.dotsSdk = sdk;

/**
 * Issue 14, kernel mode: the core client matrix (legacy curl, default curl, trusting ftplib, lftp)
 * with checksummed downloads and uploads. The gateway forwards but has no NAT rule of the test's:
 * every data connection reaches ProFTPD only through the nftables forwarding ftpmasq installs for
 * it, and the client hosts have no route to 10.0.11.0/24.
 */
import { describeCoreProxy } from './support/core-proxy-suite.js';

describeCoreProxy('kernel', 'forwarding');

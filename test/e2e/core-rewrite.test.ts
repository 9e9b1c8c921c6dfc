/**
 * Issue "Core proxy", rewrite mode: ftpmasq owns the control connection on 203.0.113.10:21 and rewrites
 * the address in 227 to 203.0.113.10; the data connections go through the gateway's NAT, which forwards
 * 203.0.113.10 tcp 60000-61000 to the server, as an elastic IP in front of the server would. The EPSV
 * client works the same way: its data goes to 203.0.113.10:port, which the NAT forwards.
 */
import { describeCoreProxy } from './support/core-proxy-suite.js';

describeCoreProxy('rewrite', 'passive-only');

/**
 * Issue "Core proxy", relay mode: ftpmasq carries control and data. The gateway does no NAT and no
 * forwarding, and the client hosts have no route to 10.0.11.0/24, so every byte that arrives went through
 * ftpmasq, and the legacy clients that trust the 227 address work only because ftpmasq rewrote it to
 * 203.0.113.10 and one of its own passive ports.
 */
import { describeCoreProxy } from './support/core-proxy-suite.js';

describeCoreProxy('relay', 'off');

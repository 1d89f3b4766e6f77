/**
 * The help tour (issue #17): driver.js highlights and scrolls to the part of the dashboard each step
 * describes. Skippable at every step (Skip tour, the × or Escape). Offered once to each new user: the
 * answer (take it or not) is remembered per account in this browser, in a cookie the server reads so the
 * offer is in the first paint or not at all (tour-cookie.ts), and in localStorage as before.
 * The coordinator keeps no per-user preferences, so another browser offers it once more; the account menu's
 * Help starts it at any time.
 */
import { driver, type DriveStep } from 'driver.js';
import 'driver.js/dist/driver.css';
import { offeredAccounts, TOUR_COOKIE, withAccount } from '$lib/tour-cookie';

/** localStorage key for "the tour was offered to this account here" (by its e-mail, which the layout and the dashboard both have). */
const offeredKey = (account: string) => `kofn.tour.offered.${account}`;

/** The tour cookie's raw value in this browser (tour-cookie.ts), or undefined. */
function cookieValue(): string | undefined {
  const prefix = `${TOUR_COOKIE}=`;
  return document.cookie
    .split('; ')
    .find((c) => c.startsWith(prefix))
    ?.slice(prefix.length);
}

export function tourOffered(account: string): boolean {
  if (offeredAccounts(cookieValue()).includes(account)) return true;
  try {
    return localStorage.getItem(offeredKey(account)) !== null;
  } catch {
    // Storage refused (private mode with storage blocked): do not nag on every visit.
    return true;
  }
}

/** Remembers the offer in the cookie the server reads (so the next page renders without it) and in localStorage. */
export function markTourOffered(account: string): void {
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `${TOUR_COOKIE}=${withAccount(cookieValue(), account)}; Path=/; Max-Age=${365 * 24 * 3600}; SameSite=Lax${secure}`;
  try {
    localStorage.setItem(offeredKey(account), new Date().toISOString());
  } catch {
    // The cookie remembers it; without that either, the offer shows again next time, which is harmless.
  }
}

/** An element the step points at, or the first of its fallbacks that is on the page. */
const first =
  (...selectors: string[]) =>
  (): Element =>
    selectors.map((s) => document.querySelector(s)).find((e) => e !== null) ?? document.body;

/** The steps, in page order; each names the element it highlights. */
export const TOUR_STEPS: Array<{ element?: () => Element; title: string; description: string }> = [
  {
    title: 'Welcome to kofn',
    description:
      'kofn splits each file in this browser into shares, one per storage server. Any k servers together rebuild the file; fewer learn nothing about it. This tour shows each part of the page; skip it at any time.'
  },
  {
    element: first('[data-tour="protect"]'),
    title: 'Protect files',
    description: 'Drop files anywhere on the page, or click the drop zone (or focus it and press Enter) to choose them.'
  },
  {
    element: first('[data-tour="settings"]'),
    title: 'Threshold and servers',
    description: '“Threshold k” is how many servers are needed to rebuild a file; tick the storage servers that receive a share. By default every online server is used and k is a majority.'
  },
  {
    element: first('[data-tour="transfers"]', '[data-tour="dropzone"]'),
    title: 'Transfers',
    description: 'Each upload or download shows its progress, speed, time left and bytes per server here. “Cancel” stops it and removes anything already stored.'
  },
  {
    element: first('[data-tour="files"]'),
    title: 'Your files',
    description: 'Search and sort your files. “Retrieve” rebuilds a file from the fastest servers and saves it; “Share” gives another user read access; “Remove” deletes every share on every server.'
  },
  {
    element: first('[data-tour="servers"]'),
    title: 'Storage servers',
    description: 'Each server with its location and host, the round trip measured from this browser (refreshed while the page is open), and whether it answers.'
  },
  { element: first('[data-tour="usage"]'), title: 'Used space', description: 'How much data you protect (plaintext size) against your licence.' },
  {
    element: first('[data-tour="history"]'),
    title: 'Operation history',
    description: 'Every protect, retrieve, remove, share and revoke, with its result; a server that returned bad data is named here.'
  },
  {
    element: first('[data-tour="shared"]'),
    title: 'Shared with me and by me',
    description: 'Files other people shared with you, and who can read yours. Revoking takes effect within 15 minutes.'
  },
  {
    element: first('nav.side'),
    title: 'Navigation',
    description: 'Jumps to each part of this page and, for administrators, to Administration. On a phone it is the row under the header.'
  },
  {
    element: first('[data-tour="account"]'),
    title: 'Your account',
    description: 'Account and security, Help (this tour), Documentation, About and Sign out. The moon or sun button beside it switches between dark and light.'
  }
];

/** Starts the tour at its first step; resolves when it ends (finished or skipped). */
export function startTour(): Promise<void> {
  return new Promise((resolve) => {
    const steps: DriveStep[] = TOUR_STEPS.map((s) => ({ ...(s.element ? { element: s.element } : {}), popover: { title: s.title, description: s.description } }));
    const tour = driver({
      steps,
      showProgress: true,
      progressText: 'Step {{current}} of {{total}}',
      nextBtnText: 'Next',
      prevBtnText: 'Back',
      doneBtnText: 'Done',
      popoverClass: 'kofn-tour',
      // Moves without the glide for people who asked their system for less motion (WCAG 2.3.3).
      animate: !matchMedia('(prefers-reduced-motion: reduce)').matches,
      smoothScroll: false,
      stageRadius: 8,
      onPopoverRender: (popover) => {
        // A worded way out beside Back/Next: the × alone is easy to miss for a new user.
        const skip = document.createElement('button');
        skip.type = 'button';
        skip.className = 'kofn-tour-skip';
        skip.textContent = 'Skip tour';
        skip.addEventListener('click', () => tour.destroy());
        popover.footer.prepend(skip);
      },
      // driver.js marks the highlighted element as a popup trigger (aria-haspopup, -expanded, -controls): not
      // allowed on the sections and the blank welcome anchor it highlights here (axe: aria-allowed-attr), and
      // the popover is a labelled dialog that takes the focus anyway.
      // (For a step with no element the hook gets none; the blank anchor is then the driver's active element.)
      onHighlighted: (element, _step, { driver: d }) => {
        const target = element ?? d.getActiveElement();
        for (const a of ['aria-haspopup', 'aria-expanded', 'aria-controls']) target?.removeAttribute(a);
      },
      onDestroyed: () => resolve()
    });
    tour.drive();
  });
}

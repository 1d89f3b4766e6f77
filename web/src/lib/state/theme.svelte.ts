/**
 * Light or dark: follows the system (`prefers-color-scheme`) until the person picks one with the toggle;
 * the pick is kept in this browser. The tokens live in styles/theme.css, keyed on html[data-theme].
 */
const KEY = 'kofn.theme';
export type Theme = 'light' | 'dark';

class ThemeState {
  /** The theme in effect; set on mount from the stored pick or the system preference. */
  current = $state<Theme>('light');

  init(): void {
    const stored = localStorage.getItem(KEY);
    const system: Theme = matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
    this.current = stored === 'light' || stored === 'dark' ? stored : system;
    if (stored === 'light' || stored === 'dark') document.documentElement.dataset.theme = stored;
  }

  toggle(): void {
    this.current = this.current === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = this.current;
    localStorage.setItem(KEY, this.current);
  }
}

export const theme = new ThemeState();

/**
 * What a person is told after a retrieval that succeeded although storage servers failed it (a relay down,
 * or one that sent data failing authentication): the file is whole, but k-of-n has less margin than it
 * should, and the person, often the only one who notices, should hear it in plain words naming the servers.
 */

/** "a", "a and b", "a, b and c" */
function list(names: string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

function servers(names: string[]): string {
  return `${names.length === 1 ? 'storage server' : 'storage servers'} ${list(names)}`;
}

/**
 * The notice for a retrieval of `fileName` that succeeded with `badNames` (sent data that failed its
 * integrity check) and `downNames` (did not answer) failing it, or undefined when none did. `checkScheduled`
 * says whether the coordinator queued a check of the file's shares (it answers the retrieval report).
 */
export function degradedRetrievalNotice(fileName: string, badNames: string[], downNames: string[], checkScheduled: boolean): string | undefined {
  if (badNames.length === 0 && downNames.length === 0) return undefined;
  const what = [badNames.length ? `${servers(badNames)} sent damaged data, which was ignored` : '', downNames.length ? `${servers(downNames)} did not answer` : ''].filter(Boolean);
  const check = checkScheduled ? ' A check of its storage servers has been scheduled.' : '';
  return `Retrieved ${fileName} from the other servers, complete and verified, but ${what.join(', and ')}.${check}`;
}
